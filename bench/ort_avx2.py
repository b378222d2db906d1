#!/usr/bin/env python3
"""ort_avx2.py SRC DST -- ONNX Runtime as it runs on a CPU without AVX-512, for the bench.

ONNX Runtime's kernels (MLAS) are chosen once, by CPUID, when the library loads, and no
option or variable makes it use its AVX2 kernels on a CPU that has AVX-512. Yet the
featurizer target is "1.2x ONNX Runtime on AVX2 and on AVX-512", both measured in one run,
and the forced avx2 row of bench/section_10_featurizer.sh needs an ONNX Runtime on AVX2 to
be compared with. So this copies the install SRC (what the anchor's install.sh made) to DST
and, in DST's libonnxruntime.so, makes one branch of MLAS's platform setup unconditional:
the one taken when CPUID leaf 7 has no AVX512F bit, just before the test of XCR0's AVX-512
state bits. That is the code path of a CPU without AVX-512: MLAS then installs the same
AVX2/FMA3 kernels (GEMM, NCHWc convolutions, depthwise, pooling) and block size it installs
on such a CPU. Nothing else changes, and the outputs match the original's.

The branch is found by its bytes (test $0x10000,%r10d; je; mov %r8,%rax; not %rax;
test $0xe0,%al). When they are not found exactly once (another ONNX Runtime build), nothing
is written, the reason goes to stderr and the exit status is 1: the bench then says its
ORT AVX2 row is skipped and why. DST is made afresh each time; SRC is never changed.
"""
import re
import shutil
import sys
from pathlib import Path

# test $0x10000,%r10d (CPUID.7.EBX bit 16, AVX512F) ; je rel8 ; mov %r8,%rax ; not %rax ;
# test $0xe0,%al (XCR0 bits 5-7: the OS saves AVX-512 state)
AVX512F_CHECK = re.compile(rb"\x41\xf7\xc2\x00\x00\x01\x00(\x74).\x4c\x89\xc0\x48\xf7\xd0\xa8\xe0",
                           re.S)
JMP_REL8 = 0xEB


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: ort_avx2.py SRC DST")
    src, dst = Path(sys.argv[1]), Path(sys.argv[2])
    libs = sorted(src.glob("node_modules/onnxruntime-node/bin/napi-v*/linux/x64/libonnxruntime.so*"))
    if not libs:
        print(f"ort_avx2: no x86-64 libonnxruntime.so under {src}", file=sys.stderr)
        return 1
    code = bytearray(libs[0].read_bytes())
    found = [m.start(1) for m in AVX512F_CHECK.finditer(code)]
    if len(found) != 1:
        print(f"ort_avx2: {libs[0]}: MLAS's AVX512F check found {len(found)} times, not once "
              "(another ONNX Runtime build?)", file=sys.stderr)
        return 1
    code[found[0]] = JMP_REL8
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, symlinks=True)
    (dst / libs[0].relative_to(src)).write_bytes(bytes(code))
    return 0


if __name__ == "__main__":
    sys.exit(main())
