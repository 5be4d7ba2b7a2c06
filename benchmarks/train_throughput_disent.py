"""disent's beta-VAE training step on the conv64 networks, timed the way ours is.

Not a dependency of the project; disent 0.9 needs Python 3.12 or newer, in a venv of its own:
  python3.12 -m venv /tmp/disent_venv && /tmp/disent_venv/bin/pip install "disent==0.9.*"
  /tmp/disent_venv/bin/python benchmarks/train_throughput_disent.py --repeats 5 --steps 15
`benchmarks/train_throughput.py --peer_python /tmp/disent_venv/bin/python` runs it in
alternating rounds with ours. disent's EncoderConv64 / DecoderConv64 (the reference study's
networks), BetaVae with the Bernoulli (binary cross-entropy) reconstruction loss, beta 4, Adam
1e-4, batch 64 of 64x64x1 images, d = 10. Prints one JSON line: {"images_per_second": [...]}.
"""
import argparse
import json
import time

import numpy as np
import torch
from disent.frameworks.vae import BetaVae
from disent.model import AutoEncoder
from disent.model.ae import DecoderConv64
from disent.model.ae import EncoderConv64


def build():
  model = AutoEncoder(encoder=EncoderConv64(x_shape=(1, 64, 64), z_size=10, z_multiplier=2),
                      decoder=DecoderConv64(x_shape=(1, 64, 64), z_size=10))
  framework = BetaVae(model=model, cfg=BetaVae.cfg(
      optimizer="adam", optimizer_kwargs=dict(lr=1e-4), beta=4.0, recon_loss="bce",
      loss_reduction="mean_sum"))
  # Outside a Lightning Trainer there is nowhere to log to.
  framework.log = framework.log_dict = lambda *args, **kwargs: None
  return framework, framework.configure_optimizers()


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--steps", type=int, default=15)
  args = parser.parse_args()
  torch.manual_seed(0)
  framework, optimizer = build()
  images = torch.from_numpy(
      (np.random.RandomState(0).rand(64, 1, 64, 64) > 0.9).astype(np.float32))
  batch = {"x_targ": (images,)}

  def step():
    optimizer.zero_grad()
    loss = framework.do_training_step(batch, 0)
    loss.backward()
    optimizer.step()
    return loss

  step()  # warm-up, as the TensorFlow side traces first
  rates = []
  for _ in range(args.repeats):
    start = time.perf_counter()
    for _ in range(args.steps):
      loss = step()
    float(loss)
    rates.append(args.steps * 64 / (time.perf_counter() - start))
  print(json.dumps({"images_per_second": rates, "torch": torch.__version__,
                    "threads": torch.get_num_threads()}))


if __name__ == "__main__":
  main()
