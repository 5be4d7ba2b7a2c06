"""Installable package for the disentanglement model zoo.

TensorFlow Probability imports `tf_keras` at start-up even though this project only uses its
distributions inside Keras 3 models, so tf-keras is a dependency; it requires the `tensorflow`
wheel (which runs on the CPU) rather than `tensorflow-cpu`.

The gin files of gin_configs/ ship as package data of the `gin_configs` package, so that a
wheel installed anywhere finds them by name (`models/beta_vae.gin`, see common/gin_files.py).
"""
import setuptools

setuptools.setup(
    name="mi-disentanglement-zoo",
    version="0.1.0",
    description=(
        "TF2/Keras 3 model zoo for disentangled representation learning, with TFP posterior "
        "families, mutual-information measures and SavedModel exports."
    ),
    packages=setuptools.find_packages(include=[
        f"{package}{suffix}" for package in ("common", "zoo", "export", "evaluation", "gin_edge",
                                             "studies", "binaries")
        for suffix in ("", ".*")]) + ["gin_configs"],
    package_data={"gin_configs": ["*.gin", "**/*.gin"]},
    python_requires=">=3.10,<3.13",
    install_requires=[
        "tensorflow==2.21.0",
        "tf-keras==2.21.0",
        "keras>=3.15,<3.16",
        "tensorflow-probability==0.25.0",
        "tensorboard>=2.20,<3",
        "gin-config==0.5.0",
        "absl-py>=2.1,<3",
        "numpy>=1.26,<3",
        "scipy>=1.13,<2",
        # evaluation/metrics/presorted_tree.py replays this version's tree builder (verified at
        # run time; another version falls back to scikit-learn's own, slower trees).
        "scikit-learn>=1.9,<1.10",
        "numba>=0.68,<0.69",
        "h5py>=3.10,<4",
        "pillow>=10,<14",
        "matplotlib>=3.8,<4",
        "pandas>=2.2,<3",
    ],
    extras_require={
        # tests/test_wheel.py builds the wheel offline (`pip wheel --no-build-isolation`) with
        # this setuptools, whose bdist_wheel needs no `wheel` package.
        "test": ["pytest>=8,<10", "setuptools>=70.1,<85"],
        # zoo-study --executor=ray (studies/ray_executor.py); make test installs it.
        "ray": ["ray>=2.40,<3"],
        # TFDS as a data source (zoo/data/tfds_source.py); make test installs it. 4.9.10 imports
        # importlib_resources without declaring it.
        "tfds": ["tensorflow-datasets>=4.9,<4.10", "importlib_resources>=6", "array_record"],
    },
    entry_points={
        "console_scripts": [
            "zoo-train=binaries.train_main:run",
            "zoo-evaluate=binaries.evaluate_main:run",
            "zoo-visualize=binaries.visualize_main:run",
            "zoo-export=binaries.export_main:run",
            "zoo-study=binaries.study_main:run",
            "zoo-udr=binaries.udr_main:run",
            "zoo-data=binaries.data_main:run",
        ],
    },
)
