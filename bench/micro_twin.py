#!/usr/bin/env python3
"""PyTorch twin of bench/micro.ts: the same single-kernel timings (channels-last, batch 32), medians in ms
(tiny ops in microseconds). Run with Debian's python3-torch: /usr/bin/python3 bench/micro_twin.py --threads 2
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F


def timed(f, iters):
    for _ in range(3):
        f()
    ts = []
    for _ in range(iters):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts) * 1000.0


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--iters', type=int, default=30)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    cl = torch.channels_last
    print(f"pytorch {torch.__version__}, {torch.get_num_threads()} threads")
    with torch.no_grad():
        for hw, c in [(32, 32), (32, 64), (16, 64)]:
            x = torch.randn(32, c, hw, hw).contiguous(memory_format=cl)
            dy = torch.randn(32, c, hw, hw).contiguous(memory_format=cl)
            w = torch.randn(c, c, 3, 3).contiguous(memory_format=cl)
            b = torch.randn(c)
            conv_bwd = torch.ops.aten.convolution_backward
            fwd = timed(lambda: F.conv2d(x, w, b, padding=1), a.iters)
            dx = timed(lambda: conv_bwd(dy, x, w, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1, [True, False, False]), a.iters)
            dw = timed(lambda: conv_bwd(dy, x, w, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1, [False, True, False]), a.iters)
            print(f"conv3x3 batch 32, {hw}x{hw}, {c}->{c}: forward+bias {fwd:.2f} ms, input gradient {dx:.2f} ms, filter gradient {dw:.2f} ms")
        x96 = torch.randn(32, 96, 32, 32).contiguous(memory_format=cl)
        w96 = torch.randn(32, 96, 1, 1).contiguous(memory_format=cl)
        print(f"1x1 batch 32, 32x32, 96->32: as convolution {timed(lambda: F.conv2d(x96, w96), a.iters):.2f} ms")
        tx = torch.randn(1, 8, 4, 4).contiguous(memory_format=cl)
        tw = torch.randn(8, 8, 3, 3)
        tb = torch.randn(8)
        tiny_conv = timed(lambda: F.conv2d(tx, tw, tb, padding=1), 2000)
        tiny_add = timed(lambda: tx + tx, 2000)
        print(f"per call: tiny convolution {tiny_conv * 1000:.1f} us, tiny add {tiny_add * 1000:.1f} us")


if __name__ == '__main__':
    main()
