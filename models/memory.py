"""Peak memory of one `train` step, measured in a fresh process.

A child process loads the artifact, runs `infer` on one training batch and reads its peak RSS
(`VmHWM` of /proc/self/status, Linux), then runs one `train` step and reads it again. The difference is
what training adds over inference of the same batch: gradient buffers, saved activations, optimizer slots.
It also sums the sizes of every tensor of the `train` subgraph (LiteRT's tensor details after
allocation): what the graph materializes before the arena planner shares memory between tensors.
That sum shows *which* tensors a technique's step needs (e.g. BitFit back-propagates through every
layer, so it keeps nearly all of full fine-tuning's activations and activation gradients).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

__all__ = ["TrainMemory", "train_memory"]

_CHILD = r"""
import json, sys
import numpy as np
from ai_edge_litert.interpreter import Interpreter

def peak_kb():
    # VmHWM, not ru_maxrss: ru_maxrss keeps the forked parent's high-water mark across exec.
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])  # kB
    raise RuntimeError("no VmHWM in /proc/self/status")

interpreter = Interpreter(model_path=sys.argv[1], num_threads=1)
train = interpreter.get_signature_runner("train")
batch, *shape = train.get_input_details()["x"]["shape"]
x = np.random.default_rng(0).normal(size=(batch, *shape)).astype(np.float32)
y = np.zeros(batch, np.int32)
interpreter.get_signature_runner("infer")(x=x)
before = peak_kb()
train(x=x, y=y)
details = interpreter.get_tensor_details(interpreter._interpreter.GetSubgraphIndexFromSignature("train"))
tensor_bytes = sum(int(np.prod(t["shape"])) * np.dtype(t["dtype"]).itemsize for t in details)
print(json.dumps({"infer_peak_kb": before, "train_peak_kb": peak_kb(), "train_tensor_kb": tensor_bytes // 1024}))
"""


@dataclasses.dataclass(frozen=True)
class TrainMemory:
    infer_peak_kb: int  # process peak RSS after inference of one training batch
    train_peak_kb: int  # process peak RSS after one train step
    train_tensor_kb: int  # sum of the train subgraph's tensor sizes (no arena sharing)

    @property
    def train_extra_kb(self) -> int:
        return self.train_peak_kb - self.infer_peak_kb


def train_memory(model_path: Path) -> TrainMemory:
    out = subprocess.run([sys.executable, "-c", _CHILD, str(model_path)], capture_output=True, text=True,
                         timeout=300, check=True)
    return TrainMemory(**json.loads(out.stdout.strip().splitlines()[-1]))
