"""Studies: a grid of training runs, run and resumed, and the aggregation of their results.

The top layer of the project: it uses data, models, training, export and evaluation, and
nothing outside `study/` imports it (the tests aside).

  spec        the `study.*` gin file (axes and sweeps) -> StudySpec -> RunConfigs
  run_dirs    OUTPUT/runs/RUN: paths, the per-run lock, DONE
  stages      train / export / evaluate of one run as binaries: commands and stage processes
  in_process  the same stages as library calls in this process
  runner      the local scheduler (`run_study`), its progress lines, and one run to DONE
  ray_executor  the runs as Ray tasks (`--executor=ray`; needs the optional `ray` extra)
  report      results.csv, statistics.json, summary.md and plots/
  main        the zoo-study binary
"""
