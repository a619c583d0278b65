"""Writes the token-shard fixtures in src/test/resources/data/ with numpy and h5py themselves, so the
Java readers are checked against files made by the tools everyone else uses.

    /usr/bin/python3 tools/data/make-shard-fixtures.py src/test/resources/data

Every good fixture holds the same 5000 tokens: token[i] = (i * 7919 + 13) % 50257.
"""
import sys, os
import numpy as np
import h5py

out = sys.argv[1] if len(sys.argv) > 1 else "."
n = 5000
tokens = ((np.arange(n, dtype=np.int64) * 7919 + 13) % 50257).astype(np.uint16)

def path(name):
    return os.path.join(out, name)

# numpy's own .npy writer
np.save(path("fixture_val_000000.npy"), tokens)
np.save(path("bad-int32.npy"), tokens.astype(np.int32))
np.save(path("bad-bigendian.npy"), tokens.astype(">u2"))
np.save(path("bad-2d.npy"), tokens.reshape(50, 100))

# llm.c's .bin exactly as its data_common.write_datafile does it (header of 256 int32, then uint16)
header = np.zeros(256, dtype=np.int32)
header[0], header[1], header[2] = 20240520, 1, n
with open(path("fixture_val_000000.bin"), "wb") as f:
    f.write(header.tobytes())
    f.write(tokens.tobytes())

# h5py: chunked, chunked + gzip (+ shuffle), contiguous; and a wrong dtype
with h5py.File(path("fixture-chunked.h5"), "w") as f:
    f.create_dataset("tokens", data=tokens, chunks=(1024,))
with h5py.File(path("fixture-gzip.h5"), "w") as f:
    f.create_dataset("tokens", data=tokens, chunks=(1000,), compression="gzip", compression_opts=4, shuffle=True)
with h5py.File(path("fixture-contiguous.h5"), "w") as f:
    f.create_dataset("tokens", data=tokens)
# a user block of 512 bytes in front: HDF5's signature then stands at byte 512, not 0
with h5py.File(path("fixture-userblock.h5"), "w", userblock_size=512) as f:
    f.create_dataset("tokens", data=tokens, chunks=(1024,))
with h5py.File(path("bad-float.h5"), "w") as f:
    f.create_dataset("tokens", data=tokens.astype(np.float32), chunks=(1000,))
