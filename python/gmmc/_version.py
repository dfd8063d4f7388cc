"""The package's version: the same as libgmmc's (CMakeLists.txt's project VERSION)."""
__version__ = "1.3.0"
