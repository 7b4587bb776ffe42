"""Your own ``model.fit`` as an lrviz run, and lrviz's schedules for your own optimizer.

One callback makes any fit a run the dashboard shows live, beside lrviz's own::

    import lrviz.keras

    model.fit(x, y, validation_data=(x_val, y_val), epochs=20,
              callbacks=[lrviz.keras.Dashboard(name="my run")])

:class:`Dashboard` registers a run owned by your process (kind ``"fit"``,
:mod:`lrviz.jobs.fit`), streams its status, one history row per epoch and the LR of every
batch (whatever set it: a float, a Keras ``LearningRateSchedule``, another LR callback), and
writes TensorBoard events. **Stop** and **Set LR now** (the Runs page, ``lrviz stop``,
``lrviz set-lr``) act from the next batch; a stop ends the fit gracefully and your script goes
on. ``schedule=`` makes lrviz set the LR before every batch, exactly as its own engine does.
At the end, when the validation data has class labels, the classification report and the
confusion matrix.

:func:`schedule` gives a registry schedule as a Keras ``LearningRateSchedule`` for your own
optimizer: the explorer's numbers, looked up inside the compiled step.

**How a fit ends**: finished, stopped (a stop request, or Ctrl+C) or failed (an exception,
with its reason). An exception inside the training step is seen as it leaves it; one raised
elsewhere (another callback, say) is recorded when the script ends (``sys.excepthook``),
when a notebook cell ends (IPython's ``post_run_cell``) or when the next Dashboard of the
process begins. A killed process's run is failed by the next read, its epochs kept. A runs
folder that cannot be written makes the callback warn once; the fit goes on.
"""

from lrviz.keras.dashboard import Dashboard
from lrviz.keras.lr_schedule import LRVizSchedule, as_schedule, schedule

__all__ = ["Dashboard", "schedule", "LRVizSchedule", "as_schedule"]
