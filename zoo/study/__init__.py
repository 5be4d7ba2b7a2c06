"""Studies: a grid of training runs, run and resumed, and the aggregation of their results.

The top layer of the project: it uses data, models, training, export and evaluation, and
nothing outside `zoo/study/` imports it (the tests aside).

  spec        the `study.*` gin file -> StudySpec -> RunConfigs
  run_dirs    OUTPUT/runs/RUN: paths, the per-run lock, DONE
  stages      train / export / evaluate of one run as binaries: commands and stage processes
  in_process  the same stages as library calls in this process
  runner      the scheduler (`run_study`) and its progress lines
  report      results.csv, statistics.json, summary.md and plots/
  main        the zoo-study binary
"""
