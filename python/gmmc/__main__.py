"""``python -m gmmc --version``: the package, the libgmmc it loads, and the device gmmc would use.

The first thing to run when something is off: it says which libgmmc copy was
picked (GMMC_LIBRARY, the installed one, a build tree, the system's) and
whether a GPU was found.
"""
import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m gmmc",
                                     description="gmmc: scikit-learn's GaussianMixture trained by gmmc")
    parser.add_argument("--version", action="store_true",
                        help="print the versions of the package and of libgmmc, and the device")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                        help="the device to ask for (default: auto)")
    args = parser.parse_args(argv)
    if not args.version:
        parser.print_help()
        return 0
    import gmmc
    print(f"gmmc (Python package) {gmmc.__version__}")
    try:
        info = gmmc.library_info(args.device)
    except ImportError as e:
        print(f"libgmmc: not found\n{e}", file=sys.stderr)
        return 1
    except gmmc.GmmcError as e:
        from gmmc._loader import load
        lib = load()
        print(f"libgmmc {lib.version} ({lib.path}, {lib.origin})")
        print(f"device: none: {e}")
        return 1
    print(f"libgmmc {info['version']} ({info['path']}, {info['origin']})")
    print(f"device: {info['device']}" + (f" ({info['note']})" if info["note"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
