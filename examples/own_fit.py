"""Your own Keras script, watched, stopped and steered from lrviz's dashboard: one callback.

    python examples/own_fit.py            # trains; open the dashboard's Runs page to watch it
    streamlit run app.py                  # (in another terminal) the dashboard, same runs folder

Everything here is plain Keras on scikit-learn's digits (offline); the one lrviz line is the
``Dashboard`` in ``callbacks``. Stop it or change its LR from the Runs page, or with
``lrviz stop <run id>`` / ``lrviz set-lr <run id> --value 0.005``: the fit ends gracefully (or
goes on at the new LR) and the script carries on after ``fit``.
"""

import argparse

import keras
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import lrviz.keras

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=int, default=20)
parser.add_argument("--schedule", default=None, help="let lrviz set the LR, e.g. 'step:factor=0.5,drop_every=5'")
parser.add_argument("--runs-dir", default=None, help="the dashboard's runs folder (default $LRVIZ_RUNS_DIR or runs)")
args = parser.parse_args()

digits = load_digits()
x = (digits.images[..., None] / 16.0).astype("float32")  # 8x8 grey images, 10 classes
x_train, x_val, y_train, y_val = train_test_split(x, digits.target, test_size=0.2, random_state=42,
                                                  stratify=digits.target)

model = keras.Sequential([
    keras.Input((8, 8, 1)),
    keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
    keras.layers.MaxPooling2D(),
    keras.layers.Flatten(),
    keras.layers.Dense(64, activation="relu"),
    keras.layers.Dense(10, activation="softmax"),
])
model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])

dashboard = lrviz.keras.Dashboard(name="digits CNN from my script", schedule=args.schedule, runs_dir=args.runs_dir,
                                  class_names=[str(d) for d in digits.target_names], data="digits (my split)")
history = model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=args.epochs, batch_size=64,
                    callbacks=[dashboard], verbose=2)

print(f"run {dashboard.run_id}: {len(history.history['loss'])} epochs, "
      f"final validation accuracy {history.history['val_accuracy'][-1]:.4f}, "
      f"LR now {float(np.asarray(keras.ops.convert_to_numpy(model.optimizer.learning_rate))):.6g}")
