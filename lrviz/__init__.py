"""lrviz: see, run and compare Keras learning-rate schedules.

Importing ``lrviz`` (or ``lrviz.schedules``) never imports TensorFlow or Streamlit.
"""

__version__ = "0.1.0"
