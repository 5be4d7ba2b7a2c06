"""The smallest MLP encoder/decoder and Gaussian likelihood: models that train on the
linear_gaussian vectors in a fraction of a second per step, for tests of everything around them."""

TINY_MLP_BINDINGS = [
    "encoder.kind = 'mlp'",
    "encoder.mlp_hidden_units = (32,)",
    "encoder.deep_units = 32",
    "decoder.kind = 'mlp'",
    "decoder.mlp_hidden_units = (32,)",
    "likelihood.name = 'gaussian'",
]

# A whole run on top of them: the tiny MLP beta-VAE on linear_gaussian, batch 16.
TINY_RUN_BINDINGS = [
    "dataset.name = 'linear_gaussian'",
    "model.name = 'beta_vae'",
    "model.latent_dim = 3",
    "posterior.name = 'factorized'",
    "training.batch_size = 16",
    "training.learning_rate = 1e-3",
] + TINY_MLP_BINDINGS
