"""The model zoo's Python API: plain arguments, Keras models, no gin.

  import zoo
  data = zoo.data.get_dataset("dsprites", image_size=32)
  model = zoo.build_model("beta_vae", observation_shape=data.observation_shape, latent_dim=10,
                          posterior="correlated_noise", posterior_options={"rho": 0.5},
                          encoder="conv64_split", beta=4.0)
  model.compile(optimizer=keras.optimizers.Adam(1e-4))
  model.fit(zoo.data.make_dataset(data, batch_size=64, seed=0), steps_per_epoch=100)

`zoo.data` (data sets and tf.data), `zoo.posteriors`, `zoo.networks`, `zoo.models`,
`zoo.training` (zoo-train's loop as a function, checkpoints, restoring a run) and
`zoo.callbacks` (TensorBoard summaries while training). docs/PYTHON_API.md is the guide.
"""
from zoo import callbacks
from zoo import data
from zoo import models
from zoo import networks
from zoo import posteriors
from zoo import training
from zoo.data import DATASET_NAMES, get_dataset
from zoo.models import MODEL_NAMES, build_model, model_arguments
from zoo.networks import ENCODER_NAMES
from zoo.posteriors import FAMILY_NAMES

__all__ = ["DATASET_NAMES", "ENCODER_NAMES", "FAMILY_NAMES", "MODEL_NAMES", "build_model",
           "callbacks", "data", "get_dataset", "model_arguments", "models", "networks",
           "posteriors", "training"]
