"""The model card `README.md` of an export: what the model is and how to load it, in Markdown.

`render` is a pure function of the export's metadata (assets/metadata.json) and the shapes of
its saved signatures (`loader.ExportedModel.signature_shapes`), so a card can always be
regenerated from the export it describes and compared with it. Keys that older exports lack
are shown as "not recorded". Nothing here imports more than the standard library.
"""
import json

CARD_FILE = "README.md"
# Where the snippets put the export's directory (the card travels with the export).
PLACEHOLDER = "EXPORT_DIR"
NOT_RECORDED = "not recorded"
# What each signature is for, in the order the card lists them.
PURPOSES = {
    "encode": "the posterior of the codes of a batch of observations",
    "serving_default": "`encode`, under the name TF Serving and `saved_model_cli run` call",
    "serve": "`encode`, under the name `keras.layers.TFSMLayer(path)` calls",
    "decode": "decoder of a batch of codes",
    "reconstruct": "`decode` of the posterior mean of a batch of observations",
    "sample_prior": "`count` codes drawn from the prior, and their decoding",
}


def _shape(shape):
  return "[" + ", ".join("batch" if n is None else str(n) for n in shape) + "]"


def _tensors(specs):
  return "<br>".join(f"`{name}` {spec['dtype']} {_shape(spec['shape'])}"
                     for name, spec in specs.items()) or "none"


def _value(metadata, key):
  value = metadata.get(key)
  return NOT_RECORDED if value is None else str(value)


def _losses(losses):
  """`loss 15.11, kl 0.472, ...`: one number per term, the per-latent terms as lists."""
  if not losses:
    return NOT_RECORDED + " (the run's train_results.json was missing or from another step)"
  grouped = {}
  for term, value in losses.items():
    head, _, index = term.rpartition(".")
    if head and index.isdigit():
      grouped.setdefault(head, []).append((int(index), value))
    else:
      grouped[term] = value
  shown = []
  for term, value in grouped.items():
    if isinstance(value, list):
      shown.append(f"{term} [{', '.join(format(v, '.4g') for _, v in sorted(value))}]")
    else:
      shown.append(f"{term} {value:.4g}")
  return ", ".join(shown)


def _signature_rows(signatures):
  order = [name for name in PURPOSES if name in signatures]
  order += sorted(name for name in signatures if name not in PURPOSES)
  rows = ["| signature | inputs | outputs | what it computes |", "|---|---|---|---|"]
  for name in order:
    shapes = signatures[name]
    rows.append(f"| `{name}` | {_tensors(shapes['inputs'])} | {_tensors(shapes['outputs'])} | "
                f"{PURPOSES.get(name, '')} |")
  return rows


def render(metadata, signatures):
  """The model card of an export.

  Args:
    metadata: the dict of the export's assets/metadata.json.
    signatures: {signature: {"inputs": {name: {"dtype", "shape"}}, "outputs": {...}}}, as
      `loader.ExportedModel.signature_shapes()` gives them (None in a shape: any size).

  Returns:
    The Markdown text of README.md.
  """
  shape = metadata["observation_shape"]
  example = json.dumps([2, *shape])
  serving = "serving_default" if "serving_default" in signatures else "encode"
  scale = metadata.get("posterior_scale")
  lines = [
      f"# {metadata['model']} with a {metadata['posterior_family']} posterior, trained on "
      f"{metadata['dataset']}",
      "",
      "A TF2 SavedModel written by `zoo-export` (mi-disentanglement-zoo). This card is "
      "generated from `assets/metadata.json` and the saved signatures; the export's own "
      "metadata is what programs read.",
      "",
      "## The model",
      "",
      "| | |",
      "|---|---|",
      f"| model | {metadata['model']} |",
      f"| posterior family | {metadata['posterior_family']} (the encoder outputs the mean and "
      f"{'the standard deviations' if scale == 'stddev' else 'a lower-triangular scale'}"
      f": `{scale}`) |",
      f"| encoder | {_value(metadata, 'encoder')} |",
      f"| latent dimensions | {metadata['latent_dim']} (prior: "
      f"{_value(metadata, 'code_prior')}) |",
      f"| data set | {metadata['dataset']}, observations float32 {_shape(shape)} |",
      f"| decoder output | {metadata['decoder_output']} |",
      f"| training steps | {_value(metadata, 'training_step')} (checkpoint "
      f"{_value(metadata, 'checkpoint')}) |",
      f"| seed | {_value(metadata, 'seed')} |",
      f"| final losses | {_losses(metadata.get('final_losses'))} |",
      f"| export format version | {metadata['format_version']} |",
      "",
      "## Signatures",
      "",
      *_signature_rows(signatures),
      "",
      "`batch` is a dimension of any size (for `sample_prior`, `count`). Observations are "
      "float32 in the data set's range (images in [0, 1]); `sample` is one draw from the "
      "posterior, so it differs from call to call.",
      "",
      "## Loading it with TensorFlow alone",
      "",
      f"Replace `{PLACEHOLDER}` with this directory's path.",
      "",
      "```python",
      "import numpy as np",
      "import tensorflow as tf",
      "",
      f'model = tf.saved_model.load("{PLACEHOLDER}")',
      f"images = np.zeros({example}, np.float32)",
      f'codes = model.signatures["{serving}"](images=tf.constant(images))["mean"]',
      "```",
      "",
  ]
  if "serve" in signatures:
    lines += [
        "As a Keras layer (it calls `serve`, i.e. `encode`, and returns its dict of outputs):",
        "",
        "```python",
        "import keras",
        f'layer = keras.layers.TFSMLayer("{PLACEHOLDER}")',
        'codes = layer(images)["mean"]',
        "```",
        "",
    ]
  lines += [
      "From the command line (`images.npy`: a float32 array of shape "
      f"{_shape([None, *shape])}):",
      "",
      "```sh",
      f"saved_model_cli run --dir {PLACEHOLDER} --tag_set serve --signature_def {serving} "
      "--inputs images=images.npy",
      "```",
      "",
      "With the zoo installed, `export.loader` checks inputs and the metadata and returns "
      "numpy arrays:",
      "",
      "```python",
      "from export import loader",
      f'model = loader.load("{PLACEHOLDER}")',
      'codes = model.encode(images)["mean"]',
      "```",
      "",
      "## Training configuration",
      "",
      "The operative gin configuration of the run (every setting the model was built and "
      "trained with):",
      "",
      "```",
      metadata["gin_config"].rstrip("\n"),
      "```",
      "",
  ]
  return "\n".join(lines)
