#!/usr/bin/python3
"""Regenerates the small generated seeds of the fuzz corpus (corpus/npy,
corpus/csv). The spec seeds are the shipped specs (dsl/specs), the files of
corpus/spec and tests/front/bad; the model seeds (corpus/model) are written by
`gmmc fit ... -o` (see docs/robustness.md). Run from anywhere; NumPy needed."""
import io
import os
import struct

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(6)


def put(sub, name, data):
    os.makedirs(os.path.join(here, "corpus", sub), exist_ok=True)
    with open(os.path.join(here, "corpus", sub, name), "wb") as f:
        f.write(data)


def npy(a, version=None):
    b = io.BytesIO()
    if version is None:
        np.save(b, a)
    else:
        np.lib.format.write_array(b, a, version=version)
    return b.getvalue()


def handmade(dict_text, payload, major=1, pad=True):
    """A .npy file written byte by byte: hand-written header spellings."""
    h = dict_text.encode("latin1")
    hoff = 10 if major == 1 else 12
    n = len(h) + 1
    if pad:
        n = (hoff + n + 63) // 64 * 64 - hoff
    h = h + b" " * (n - len(h) - 1) + b"\n"
    ln = struct.pack("<H", n) if major == 1 else struct.pack("<I", n)
    return b"\x93NUMPY" + bytes([major, 0]) + ln + h + payload


# .npy: the three versions, both dtypes, 1-D and 2-D, a Fortran-order column
put("npy", "f8_2d_v1.npy", npy(rng.normal(size=(5, 3))))
put("npy", "f4_2d_v1.npy", npy(rng.normal(size=(4, 2)).astype("<f4")))
put("npy", "f8_1d.npy", npy(rng.normal(size=7)))
put("npy", "f4_v2.npy", npy(rng.normal(size=(3, 2)).astype("<f4"), version=(2, 0)))
put("npy", "f8_v3.npy", npy(rng.normal(size=(2, 2)), version=(3, 0)))
put("npy", "f8_fortran_col.npy", npy(np.asfortranarray(rng.normal(size=(4, 1)))))
put("npy", "f8_nan.npy", npy(np.array([[1.0, np.nan], [np.inf, 2.0]])))
# hand-written headers: other key order, double quotes, Python 2 longs, no
# padding (a misaligned payload), one row
put("npy", "hand_order.npy", handmade("{'shape': (2, 2), 'fortran_order': False, 'descr': '<f8'}",
                                      np.arange(4, dtype="<f8").tobytes()))
put("npy", "hand_quotes_long.npy", handmade('{"descr": "|f4", "fortran_order": False, "shape": (3L, 1L), }',
                                            np.arange(3, dtype="<f4").tobytes()))
put("npy", "hand_unaligned.npy", handmade("{'descr':'<f8','fortran_order':False,'shape':(1,3)}",
                                          np.arange(3, dtype="<f8").tobytes(), pad=False))
put("npy", "hand_v2_1d.npy", handmade("{'descr': '<f4', 'fortran_order': True, 'shape': (5,), }",
                                      np.arange(5, dtype="<f4").tobytes(), major=2))
put("npy", "truncated.npy", npy(rng.normal(size=(6, 2)))[:-5])
# integers and booleans, for specs of integer or binary data (read into float64)
put("npy", "i2_counts.npy", npy(np.arange(12, dtype="<i2").reshape(4, 3) % 5))
put("npy", "b1_binary.npy", npy(np.arange(8).reshape(4, 2) % 3 == 0))
put("npy", "u8_big.npy", npy(np.array([[1, 2**53 + 1]], dtype="<u8")))

# CSV: header or not, CRLF, BOM, quoted fields, exponents, signs, blank tail
put("csv", "header.csv", b"a,b,c\n1,2,3\n4.5,-6e-3,+7\n")
put("csv", "plain.csv", b"0.1,0.2\n0.3,0.4\n0.5,0.6\n")
put("csv", "crlf_bom.csv", b"\xef\xbb\xbfx,y\r\n1,2\r\n3,4\r\n")
put("csv", "quoted.csv", b'"x","y ""quoted"""\n"1", 2\n 3 ,"4"\n\n\n')
put("csv", "one.csv", b"42\n")
put("csv", "exp.csv", b"1e308,-1e-308\n.5,5.\n1E+2,-0\n")
put("csv", "ragged.csv", b"1,2,3\n4,5\n")
put("csv", "nan.csv", b"1,nan\n2,3\n")
put("csv", "iris_head.csv", b"sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n4.9,3,1.4,0.2\n")
