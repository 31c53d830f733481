#!/usr/bin/env python3
"""PyTorch twin of the reference benchmark UNet (shared/spec/benchmark.md), for comparing Distillery's
`npm run bench` with plain PyTorch on the same machine.

Same architecture as bench/reference-unet.ts, same workloads: a batch-32 training step (v-prediction
MSE on the scaled_linear schedule 0.0015..0.0195 over 1000 steps, random t and labels, AdamW) and a
batch-256 no-grad forward; medians over timed iterations after warm-up. Channels-last memory format is
used (as the libtorch backend does with NHWC data) unless --nchw is given.

Run with the system Python that has Debian's python3-torch:
    /usr/bin/python3 bench/pytorch_twin.py --threads 2 [--json]
"""
import argparse
import json
import math
import os
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

GROUPS = 8


class GroupNorm32(nn.GroupNorm):
    """GroupNorm computed in float32 whatever the input's dtype (guided-diffusion's GroupNorm32, without
    casting back): PyTorch 1.13's CPU group_norm refuses a bf16 input with float32 weights under autocast,
    and normalisation stays float32 as in Distillery's bf16. A no-op cast outside autocast."""

    def forward(self, x):
        return super().forward(x.float())



class ResBlock(nn.Module):
    def __init__(self, cin, cout, emb_dim):
        super().__init__()
        self.norm1 = GroupNorm32(GROUPS, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb_proj = nn.Linear(emb_dim, cout)
        self.norm2 = GroupNorm32(GROUPS, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = None if cin == cout else nn.Conv2d(cin, cout, 1)

    def forward(self, x, emb_silu):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb_proj(emb_silu)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (x if self.skip is None else self.skip(x)) + h


class SelfAttention(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.norm = GroupNorm32(GROUPS, ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.proj = nn.Conv2d(ch, ch, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        qkv = self.qkv(self.norm(x)).reshape(b, 3 * c, h * w)
        q, k, v = qkv.chunk(3, dim=1)  # [b, c, hw] each
        scores = torch.bmm(q.transpose(1, 2), k) / math.sqrt(c)  # [b, hw, hw]
        a = torch.bmm(v, scores.softmax(dim=-1).transpose(1, 2))  # [b, c, hw]
        return x + self.proj(a.reshape(b, c, h, w))


def sinusoidal(t, dim, max_period=10000):
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class ReferenceUNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.temb1 = nn.Linear(32, 128)
        self.temb2 = nn.Linear(128, 128)
        self.label_emb = nn.Embedding(11, 128)
        self.conv_in = nn.Conv2d(1, 32, 3, padding=1)
        self.enc0 = ResBlock(32, 32, 128)
        self.down0 = nn.Conv2d(32, 32, 3, stride=2, padding=1)
        self.enc1 = ResBlock(32, 64, 128)
        self.down1 = nn.Conv2d(64, 64, 3, stride=2, padding=1)
        self.mid = ResBlock(64, 64, 128)
        self.attn = SelfAttention(64)
        self.up1 = nn.Conv2d(64, 64, 3, padding=1)
        self.dec1 = ResBlock(128, 64, 128)
        self.up0 = nn.Conv2d(64, 64, 3, padding=1)
        self.dec0 = ResBlock(96, 32, 128)
        self.out_norm = GroupNorm32(GROUPS, 32)
        self.out_conv = nn.Conv2d(32, 1, 3, padding=1)

    def forward(self, z, t, labels):
        emb = self.temb2(F.silu(self.temb1(sinusoidal(t, 32)))) + self.label_emb(labels)
        e = F.silu(emb)
        h0 = self.enc0(self.conv_in(z), e)
        h1 = self.enc1(self.down0(h0), e)
        h = self.mid(self.down1(h1), e)
        h = self.attn(h)
        h = self.up1(F.interpolate(h, scale_factor=2, mode='nearest'))
        h = self.dec1(torch.cat([h, h1], 1), e)
        h = self.up0(F.interpolate(h, scale_factor=2, mode='nearest'))
        h = self.dec0(torch.cat([h, h0], 1), e)
        return self.out_conv(F.silu(self.out_norm(h)))


def scaled_linear_alphas_cumprod(n=1000, beta_start=0.0015, beta_end=0.0195):
    betas = torch.linspace(beta_start ** 0.5, beta_end ** 0.5, n, dtype=torch.float64) ** 2
    return torch.cumprod(1.0 - betas, dim=0).float()


def median_ms(xs):
    return statistics.median(xs) * 1000.0


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--threads', type=int, default=os.cpu_count())
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--steps', type=int, default=20)
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--sample-batch', type=int, default=256)
    p.add_argument('--sample-iters', type=int, default=20)
    p.add_argument('--nchw', action='store_true', help='plain NCHW memory format instead of channels-last')
    p.add_argument('--autocast', choices=['none', 'bf16'], default='none',
                   help="bf16: forward passes (training and sampling) under torch.autocast('cpu', dtype=torch.bfloat16), "
                        "as Distillery's --precision bf16; weights, gradients and AdamW state stay float32")
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--json', action='store_true')
    p.add_argument('--profile', action='store_true', help='also print torch.profiler\'s per-op table over the timed steps')
    p.add_argument('--by-shape', action='store_true', help='with --profile: one row per op and input shapes')
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    fmt = torch.contiguous_format if a.nchw else torch.channels_last
    model = ReferenceUNet().to(memory_format=fmt)
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ac = scaled_linear_alphas_cumprod()

    def batch(b):
        x0 = torch.randn(b, 1, 32, 32).contiguous(memory_format=fmt)
        eps = torch.randn(b, 1, 32, 32).contiguous(memory_format=fmt)
        t = torch.randint(0, 1000, (b,))
        labels = torch.randint(0, 11, (b,))
        sa = ac[t].sqrt()[:, None, None, None]
        so = (1 - ac[t]).sqrt()[:, None, None, None]
        return sa * x0 + so * eps, t.float(), labels, sa * eps - so * x0

    # Autocast as a PyTorch user writes it: the forward and the loss inside, backward and step outside.
    def autocast():
        return torch.autocast('cpu', dtype=torch.bfloat16, enabled=a.autocast == 'bf16')

    def step():
        z, t, labels, v = batch(a.batch)
        with autocast():
            loss = F.mse_loss(model(z, t, labels), v)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(a.warmup):
        step()
    times = []
    cpu = []
    loss = float('nan')
    prof = None
    if a.profile:
        from torch.profiler import ProfilerActivity, profile
        prof = profile(activities=[ProfilerActivity.CPU], record_shapes=a.by_shape)
        prof.__enter__()
    for _ in range(a.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        loss = step()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    if prof is not None:
        prof.__exit__(None, None, None)
        print(f'per-op profile over {a.steps} training steps (divide by {a.steps} for per-step times):')
        print(prof.key_averages(group_by_input_shape=a.by_shape).table(sort_by='self_cpu_time_total', row_limit=60 if a.by_shape else 30))
    train_ms = median_ms(times)

    sample_ms = None
    if a.sample_iters > 0:
        z, t, labels, _ = batch(a.sample_batch)
        with torch.no_grad(), autocast():
            model(z, t, labels)
            st = []
            sc = []
            for _ in range(a.sample_iters):
                t0, c0 = time.perf_counter(), time.process_time()
                model(z, t, labels)
                st.append(time.perf_counter() - t0)
                sc.append(time.process_time() - c0)
        sample_ms = median_ms(st)

    result = {
        'torch': torch.__version__, 'threads': torch.get_num_threads(), 'format': 'NCHW' if a.nchw else 'channels_last',
        'autocast': a.autocast,
        'parameters': n_params, 'batch': a.batch,
        'train': {'median_ms': train_ms, 'min_ms': min(times) * 1000, 'max_ms': max(times) * 1000, 'n': len(times),
                  'cpu_ms': median_ms(cpu), 'images_per_second': 1000 * a.batch / train_ms, 'loss': loss},
        'sample': sample_ms and {'median_ms': sample_ms, 'cpu_ms': median_ms(sc), 'batch': a.sample_batch,
                                 'images_per_second': 1000 * a.sample_batch / sample_ms},
        'load_average': os.getloadavg(), 'omp_wait_policy': os.environ.get('OMP_WAIT_POLICY'),
    }
    if a.json:
        print(json.dumps(result, indent=2))
    else:
        autocast_note = ', autocast bf16' if a.autocast == 'bf16' else ''
        print(f"pytorch {result['torch']} ({result['format']}, {result['threads']} threads{autocast_note}), {n_params} parameters")
        print(f"training step, batch {a.batch}: median {train_ms:.1f} ms (min {result['train']['min_ms']:.1f}, "
              f"max {result['train']['max_ms']:.1f}, {len(times)} steps), {result['train']['images_per_second']:.1f} images/s, "
              f"CPU time {result['train']['cpu_ms']:.1f} ms/step, loss {loss:.4f}")
        if sample_ms:
            print(f"sampling forward, batch {a.sample_batch}: median {sample_ms:.1f} ms, {result['sample']['images_per_second']:.1f} images/s, "
                  f"CPU time {result['sample']['cpu_ms']:.1f} ms")
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == '__main__':
    main()
