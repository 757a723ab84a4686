"""Run management around the training loop of :mod:`tinybcnn.train`.

The loop itself (shuffle, minibatch, :meth:`~tinybcnn.train.Trainer.step`) lives in
:mod:`tinybcnn.train`, short enough to read in one screen. Everything a long run needs around it
lives here, one idea per module:

* :mod:`~tinybcnn.training.errors`: :class:`TrainingDiverged` and :class:`TrainingInterrupted`;
* :mod:`~tinybcnn.training.interrupts`: Ctrl-C held until an update is complete, and a step that
  does not complete rewound;
* :mod:`~tinybcnn.training.history`: the evaluation rows and their CSV / JSON-lines log;
* :mod:`~tinybcnn.training.checks`: argument and data checks, with one-line errors;
* :mod:`~tinybcnn.training.state`: :class:`TrainerState`, everything a trainer remembers between
  steps, in one object (built whole on resume, then assigned);
* :mod:`~tinybcnn.training.checkpointing`: saving the state and resuming from it;
* :mod:`~tinybcnn.training.split`: a step on two cores, the two halves of its batch side by side;
* :mod:`~tinybcnn.training.run`: one call of ``fit``: when to evaluate and checkpoint, the
  progress report, the read-back of the running loss on a device, and the errors it raises.
"""
