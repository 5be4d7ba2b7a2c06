"""The same conv64 beta-VAE training step written plainly in PyTorch, for comparison.

Not a dependency of the project: run it with any Python that has torch installed, e.g.
  python -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch numpy
  /tmp/torchvenv/bin/python benchmarks/train_throughput_torch.py --repeats 5 --steps 20
Same network (conv 32-32-64-64 k4 s2, dense 256, 2x10 outputs; decoder dense 256, 1024,
deconvs 64-32-32-1), Bernoulli likelihood, diagonal Gaussian posterior, beta 4, Adam, batch 64.
"""
import argparse
import os
import statistics
import time

import numpy as np
import torch
from torch import nn


def build(latent_dim=10):
  encoder = nn.Sequential(
      nn.Conv2d(1, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(),
      nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(), nn.Conv2d(64, 64, 4, 2, 1), nn.ReLU(),
      nn.Flatten(), nn.Linear(1024, 256), nn.ReLU(), nn.Linear(256, 2 * latent_dim))
  decoder = nn.Sequential(
      nn.Linear(latent_dim, 256), nn.ReLU(), nn.Linear(256, 1024), nn.ReLU(),
      nn.Unflatten(1, (64, 4, 4)),
      nn.ConvTranspose2d(64, 64, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(64, 32, 4, 2, 1),
      nn.ReLU(), nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(),
      nn.ConvTranspose2d(32, 1, 4, 2, 1))
  return encoder, decoder


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--steps", type=int, default=20)
  args = parser.parse_args()
  torch.manual_seed(0)
  encoder, decoder = build()
  params = list(encoder.parameters()) + list(decoder.parameters())
  optimizer = torch.optim.Adam(params, lr=1e-4)
  rng = np.random.RandomState(0)
  x = torch.from_numpy((rng.rand(64, 1, 64, 64) > 0.9).astype(np.float32))

  def step():
    out = encoder(x)
    mean, logvar = out[:, :10], out[:, 10:]
    z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
    logits = decoder(z)
    recon = nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="sum") / 64
    kl = 0.5 * (mean.pow(2) + logvar.exp() - logvar - 1).sum(1).mean()
    loss = recon + 4.0 * kl
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()

  step()
  rates = []
  for _ in range(args.repeats):
    start = time.perf_counter()
    for _ in range(args.steps):
      step()
    rates.append(args.steps * 64 / (time.perf_counter() - start))
  print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs")
  print(f"median img/s {statistics.median(rates):.0f}   all runs "
        + ", ".join(f"{r:.0f}" for r in rates))


if __name__ == "__main__":
  main()
