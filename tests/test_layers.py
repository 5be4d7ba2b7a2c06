"""The import rule of docs/ARCHITECTURE.md, checked on the source: layers only point down.

The folders are the layers, lowest first: `common/` (utilities every layer uses); `zoo/` (data,
networks and posterior families; models; training); `export/`; `evaluation/`; `studies/`;
`binaries/` (the console scripts). A module may import its own layer and the ones below, never
one above, and only binaries import project modules inside functions (to keep `--help` fast),
never to dodge a cycle. Relative imports are read as the modules they name, and an import by
name at run time (`importlib.import_module`, `__import__`) counts as one inside a function.
Every top-level package of the checkout, which is what the wheel ships, has a layer.
"""
import ast
import os

import tensorflow as tf

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("common", "gin_configs", "zoo", "export", "evaluation", "studies", "binaries")

# Module name prefix -> layer; the longest matching prefix decides. Inside zoo/ the subpackages
# are layers of their own (data, networks and posteriors below models, models below training).
LAYERS = {
    "common": 0,
    "gin_configs": 0,  # no code: the shipped gin files (package data)
    "zoo": 1, "zoo.data": 1, "zoo.networks": 1, "zoo.posteriors": 1,
    "zoo.models": 2,
    "zoo.training": 3,
    "export": 4,
    "evaluation": 5,
    "studies": 6,
    "binaries": 7,
}
BINARY_LAYER = LAYERS["binaries"]
LAYER_NAMES = ["common", "data/networks/posteriors", "models", "training", "export",
               "evaluation", "studies", "binaries"]
# Modules of one layer that must not import each other either (siblings, not a stack).
SIBLINGS = ("zoo.data", "zoo.networks", "zoo.posteriors")


def module_name(path):
  relative = os.path.relpath(path, REPO)[:-len(".py")].replace(os.sep, ".")
  return relative[:-len(".__init__")] if relative.endswith(".__init__") else relative


def package_of(path):
  """The package a source file is in: itself for an `__init__.py`."""
  name = module_name(path)
  return name if path.endswith("__init__.py") else name.rpartition(".")[0]


def layer_of(name):
  matches = [prefix for prefix in LAYERS if name == prefix or name.startswith(prefix + ".")]
  return LAYERS[max(matches, key=len)] if matches else None


def project_sources():
  for package in PACKAGES:
    for root, _, files in os.walk(os.path.join(REPO, package)):
      for name in sorted(files):
        if name.endswith(".py"):
          yield os.path.join(root, name)


# Calls that import a module named at run time.
DYNAMIC_IMPORTS = ("importlib.import_module", "import_module", "__import__",
                   "importlib.__import__")


def _absolute(module, level, package):
  """The module a `from <level dots><module> import ...` in `package` names."""
  if not level:
    return module
  parts = package.split(".")
  base = parts[:len(parts) - level + 1] if level > 1 else parts
  return ".".join(base + ([module] if module else []))


def imports(tree, package=""):
  """(imported module name, line, inside a function) for every import statement; a dynamic
  import (`importlib.import_module(...)`) is `("<dynamic>", line, True)`.

  Args:
    tree: a module's AST.
    package: the package the module is in (for relative imports), e.g. `zoo.models`.
  """
  found = []

  def visit(node, in_function):
    for child in ast.iter_child_nodes(node):
      inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                 ast.Lambda))
      if isinstance(child, ast.Import):
        found.extend((alias.name, child.lineno, in_function) for alias in child.names)
      elif isinstance(child, ast.ImportFrom):
        # `from zoo import data` imports zoo.data: name the module, not only the package.
        module = _absolute(child.module, child.level, package)
        found.extend((f"{module}.{alias.name}", child.lineno, in_function)
                     for alias in child.names)
      elif isinstance(child, ast.Call) and ast.unparse(child.func) in DYNAMIC_IMPORTS:
        found.append(("<dynamic>", child.lineno, True))
      visit(child, inside)

  visit(tree, False)
  return found


def project_module(name):
  """The project module an import names (`zoo.data.pipeline`, ...), or None."""
  if name.split(".")[0] not in PACKAGES:
    return None
  parts = name.split(".")
  while parts:  # `from zoo.models import infogan` names a module; `... import InfoGAN` does not.
    candidate = os.path.join(REPO, *parts)
    if os.path.isdir(candidate) or os.path.isfile(candidate + ".py"):
      return ".".join(parts)
    parts.pop()
  return None


class ImportRuleTest(tf.test.TestCase):

  def test_every_top_level_package_has_a_layer(self):
    found = {name for name in os.listdir(REPO)
             if os.path.isfile(os.path.join(REPO, name, "__init__.py"))}
    self.assertEqual(found, set(PACKAGES))

  def test_every_import_points_down(self):
    violations = []
    for path in project_sources():
      source = module_name(path)
      source_layer = layer_of(source)
      self.assertIsNotNone(source_layer, f"{source} has no layer in this test's LAYERS")
      with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
      for name, line, in_function in imports(tree, package_of(path)):
        if name == "<dynamic>":
          if source_layer != BINARY_LAYER:
            violations.append(f"{os.path.relpath(path, REPO)}:{line} imports a module named "
                              "at run time")
          continue
        target = project_module(name)
        if target is None:
          continue
        where = f"{os.path.relpath(path, REPO)}:{line} imports {target}"
        target_layer = layer_of(target)
        if target_layer > source_layer:
          violations.append(f"{where} ({LAYER_NAMES[target_layer]} is above "
                            f"{LAYER_NAMES[source_layer]})")
        for sibling in SIBLINGS:
          if (source.startswith(sibling) and target.split(".")[:2] != sibling.split(".")
              and any(target.startswith(other) for other in SIBLINGS)):
            violations.append(f"{where} (sibling layers import each other)")
        if in_function and source_layer != BINARY_LAYER:
          violations.append(f"{where} inside a function")
    self.assertEmpty(violations, "\n".join(violations))

  def test_the_loader_needs_only_tensorflow_and_numpy(self):
    path = os.path.join(REPO, "export", "loader.py")
    with open(path, encoding="utf-8") as f:
      names = {name.split(".")[0] for name, _, _ in imports(ast.parse(f.read()))}
    self.assertEqual(names - {"json", "os", "math"}, {"numpy", "tensorflow"})

  def test_the_rule_sees_a_violation(self):
    # The checker itself: an upward import, a function-local one, relative ones and one by
    # name at run time are all found.
    tree = ast.parse("from evaluation import metrics\n"
                     "def f():\n  from zoo import models\n"
                     "from ..training import loop\n"
                     "from . import vae\n"
                     "from .. import data\n"
                     "x = importlib.import_module('evaluation.metrics.mig')\n")
    found = [(project_module(name) if name != "<dynamic>" else name, in_function)
             for name, _, in_function in imports(tree, "zoo.models")]
    self.assertEqual(found, [("evaluation.metrics", False), ("zoo.models", True),
                             ("zoo.training.loop", False), ("zoo.models.vae", False),
                             ("zoo.data", False), ("<dynamic>", True)])
    self.assertGreater(layer_of("zoo.training.loop"), layer_of("zoo.models"))
    self.assertGreater(layer_of("evaluation.metrics"), layer_of("zoo.models.vae"))
    self.assertEqual(layer_of("binaries.train_main"), BINARY_LAYER)
    self.assertEqual(layer_of("studies.report.table"), LAYERS["studies"])


if __name__ == "__main__":
  tf.test.main()
