"""`harness models build|eval --task har`: the zoo's command group, hooked into `harness.cli`."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from harness.errors import UserError

__all__ = ["register", "format_report"]

TASKS = ("har",)


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise UserError(f"unknown task {task!r}; known tasks: {', '.join(TASKS)}")


def cmd_build(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from models import zoo

    _check_task(args.task)
    names = zoo.variant_names(args.task)
    for name in args.variant or ():
        if name not in names:
            raise UserError(f"unknown {args.task} variant {name!r}; known: {', '.join(names)}")
    chosen = args.variant or names
    with Progress(transient=True) as progress:
        job = progress.add_task("building", total=len(chosen))
        for name in chosen:
            progress.update(job, description=name)
            artifact = zoo.build(name, args.out, force=args.force)
            progress.console.print(f"{name}  {artifact.path}  {artifact.manifest['model_bytes']} B")
            progress.advance(job)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from models.eval import evaluate
    from models.har import data

    _check_task(args.task)
    subjects = data.HELD_OUT[: args.subjects] if args.subjects else data.HELD_OUT
    if args.subjects is not None and not 1 <= args.subjects <= len(data.HELD_OUT):
        raise UserError(f"--subjects must be 1..{len(data.HELD_OUT)}, not {args.subjects}")
    with Progress(transient=True) as progress:
        job = progress.add_task("evaluating", total=None)
        report = evaluate(subjects=subjects, progress=lambda msg: progress.update(job, description=msg))
    if args.json:
        json.dump(dataclasses.asdict(report), sys.stdout, indent=2, sort_keys=True)
        print()
    else:
        print(format_report(report))
    return 0


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _gain(mean: float, ci: tuple[float, float]) -> str:
    return f"{100 * mean:+.1f} [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]"


def _personalization_table(report) -> list[str]:
    lines = [f"Held-out subjects {list(report.subjects)}; each technique personalized by its tuned recipe "
             "(chosen on tuning subjects 17-20).", "",
             "| variant | condition | LR | recipe | steps used (mean, min-max) | global acc % | personalized acc % "
             "| paired gain (pts) [95% CI] | improved | trainable | delta B | step ms "
             "| train peak RSS MiB (+ over infer) | train tensors MiB |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in report.personalization:
        mean, low, high = r.steps_used
        lines.append(
            f"| {r.variant} | {r.condition} | {r.learning_rate:g} | {r.recipe} | {mean:.1f} ({low}-{high}) | "
            f"{_pct(r.global_mean)} ± {_pct(r.global_sd)} | {_pct(r.personal_mean)} ± {_pct(r.personal_sd)} | "
            f"{_gain(r.gain_mean, r.gain_ci)} | {r.improved}/{r.subjects} | "
            f"{r.trainable_params} ({100 * r.trainable_fraction:.1f}%) | {r.delta_bytes} | {r.step_ms_median:.2f} | "
            f"{r.train_peak_kb / 1024:.1f} (+{r.train_extra_kb / 1024:.2f}) | {r.train_tensor_kb / 1024:.1f} |")
    return lines


def _fraction_table(report) -> list[str]:
    lines = ["", "Gain as a fraction of full fine-tuning's (same condition, tuned recipes):", "",
             "| variant | condition | fraction of full's gain | trainable |", "| --- | --- | --- | --- |"]
    for f in report.fractions:
        ratio = "n/a (full's gain ≤ 0)" if f.fraction is None else f"{100 * f.fraction:.0f}%"
        lines.append(f"| {f.variant} | {f.condition} | {ratio} ({100 * f.gain:+.1f}/{100 * f.full_gain:+.1f} pts) | "
                     f"{100 * f.trainable_fraction:.1f}% |")
    return lines


def _curve_table(report) -> list[str]:
    lines = ["", "Few-step curve (tuned LR and batches, all personalization windows, no early stopping; "
             "'plateau': early stop on 25% held-back windows within 100 steps):", "",
             "| variant | condition | steps | acc % | paired gain (pts) [95% CI] | improved |",
             "| --- | --- | --- | --- | --- | --- |"]
    for c in report.curves:
        steps = f"plateau: {c.steps_used[0]:.1f} ({c.steps_used[1]}-{c.steps_used[2]})" if c.plateau else str(c.steps)
        lines.append(f"| {c.variant} | {c.condition} | {steps} | {_pct(c.mean)} | {_gain(c.gain_mean, c.gain_ci)} | "
                     f"{c.improved}/{c.subjects} |")
    return lines


def _meta_table(report) -> list[str]:
    lines = ["", "Reptile init vs plain init (paired over subjects):", "",
             "| variant | vs | condition | steps | meta acc % | plain acc % | diff (pts) [95% CI] | meta better |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for m in report.meta:
        lines.append(f"| {m.variant} | {m.baseline} | {m.condition} | {m.steps} | {_pct(m.meta_mean)} | "
                     f"{_pct(m.plain_mean)} | {_gain(m.diff_mean, m.diff_ci)} | {m.better}/{m.subjects} |")
    return lines


def _quantization_table(report) -> list[str]:
    lines = ["", "| variant | quantization | model bytes | same-trial acc % | cross-placement acc % "
             "| Δ vs float32 (pts) |", "| --- | --- | --- | --- | --- | --- |"]
    for q in report.quantization:
        delta = ", ".join(f"{v:+.1f}" for v in q.delta_vs_float32.values())
        lines.append(f"| {q.variant} | {q.quantization} | {q.model_bytes} | {_pct(q.accuracy['same-trial'])} | "
                     f"{_pct(q.accuracy['cross-placement'])} | {delta} |")
    return lines


def format_report(report) -> str:
    """Markdown tables of a `models.eval.Report` (the README tables)."""
    from models.eval_compression import format_compression
    from models.eval_early_exit import format_early_exit
    from models.eval_transfer import format_transfer

    return "\n".join(_personalization_table(report) + _fraction_table(report) + _curve_table(report)
                     + _meta_table(report) + _quantization_table(report)
                     + (["", format_compression(report.compression)] if report.compression else [])
                     + format_transfer(report.transfer) + format_early_exit(report.early_exit))


def register(subparsers) -> None:
    """Add the `models` command group to the harness CLI's subparsers."""
    models = subparsers.add_parser("models", help="build and evaluate the model zoo (TFLite artifacts)")
    sub = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")

    p = sub.add_parser("build", help="build a task's variants into the cache (or --out DIR); cached by source")
    p.add_argument("--task", required=True, help="task name, e.g. har")
    p.add_argument("--out", type=Path, metavar="DIR", help="output directory (default: the user cache)")
    p.add_argument("--variant", action="append", metavar="NAME", help="only this variant (repeatable)")
    p.add_argument("--force", action="store_true", help="rebuild even if a build of the same source exists")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("eval", help="personalization over held-out subjects: tuned recipes, paired gains, "
                       "few-step curve, Reptile init, quantization")
    p.add_argument("--task", required=True, help="task name, e.g. har")
    p.add_argument("--json", action="store_true")
    p.add_argument("--subjects", type=int, metavar="N", help="only the first N held-out subjects")
    p.set_defaults(func=cmd_eval)
