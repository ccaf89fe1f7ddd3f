"""The study: every run's result files turned into the paper's tables, with their uncertainty.

* :mod:`asdlib.study.rows` - the rows of the paper's tables and which (system, mode) makes each;
* :mod:`asdlib.study.runs` - reading a study folder (``STUDY/<system>/<machine>/seed<k>/``) into one
  table of per-clip scores; a small study for notebooks run on their own;
* :mod:`asdlib.study.tuning` - the rows tuned on the development set, per seed (MSL, Disent.Wt,
  MSL+ANP: Table 4);
* :mod:`asdlib.study.evidence` - official scores of any cell, and differences between rows, with
  95 % intervals over seeds and test clips (:mod:`asdlib.bootstrap`); Tables 2 and 3;
* :mod:`asdlib.study.claims` - the paper's claims, one by one, with a verdict;
* :mod:`asdlib.study.paper` - the paper's own numbers, and how to show them beside ours;
* :mod:`asdlib.study.departures` - the departures table of the systems chapter;
* :mod:`asdlib.study.curves` - training curves: section accuracy per epoch, dev score per checkpoint;
* :mod:`asdlib.study.room` - the systems beside the stand-in's calibration ladder (floor, ceiling).

Tables are built only from the runs' files, never from typed-in numbers. Imports no torch.
"""
