"""get_price: a task with no inputs that returns 7.0, written to $FANOUT_OUTPUTS."""
import json
import os

with open(os.environ["FANOUT_OUTPUTS"], "w") as f:
    json.dump({"o0": 7.0}, f)
