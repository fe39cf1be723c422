"""multi_input_task: quantity * price * shipping.

A fanout command task: the inputs arrive as a JSON object on stdin (and in the file named by
$FANOUT_INPUTS); the single output is printed to stdout as JSON.
"""
import json
import sys

inputs = json.load(sys.stdin)
print(json.dumps(inputs["quantity"] * inputs["price"] * inputs["shipping"]))
