"""Markdown tables of a HAR evaluation report (the README tables of `harness models eval --task har`)."""

from __future__ import annotations

from collections.abc import Sequence

from models.har.eval_compression import CompressionReport
from models.har.eval_early_exit import EarlyExitRow
from models.har.eval_transfer import TransferRow
from models.har.evaluate import Report

__all__ = ["format_report", "format_compression", "format_transfer", "format_early_exit"]


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _gain(mean: float, ci: tuple[float, float]) -> str:
    return f"{100 * mean:+.1f} [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]"


def _personalization_table(report: Report) -> list[str]:
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
            f"{r.trainable_params} ({_pct(r.trainable_fraction)}%) | {r.delta_bytes} | {r.step_ms_median:.2f} | "
            f"{r.train_peak_kb / 1024:.1f} (+{r.train_extra_kb / 1024:.2f}) | {r.train_tensor_kb / 1024:.1f} |")
    return lines


def _fraction_table(report: Report) -> list[str]:
    lines = ["", "Gain as a fraction of full fine-tuning's (same condition, tuned recipes):", "",
             "| variant | condition | fraction of full's gain | trainable |", "| --- | --- | --- | --- |"]
    for f in report.fractions:
        ratio = "n/a (full's gain ≤ 0)" if f.fraction is None else f"{100 * f.fraction:.0f}%"
        lines.append(f"| {f.variant} | {f.condition} | {ratio} ({100 * f.gain:+.1f}/{100 * f.full_gain:+.1f} pts) | "
                     f"{_pct(f.trainable_fraction)}% |")
    return lines


def _curve_table(report: Report) -> list[str]:
    lines = ["", "Few-step curve (tuned LR and batches, all personalization windows, no early stopping; "
             "'plateau': early stop on 25% held-back windows within 100 steps):", "",
             "| variant | condition | steps | acc % | paired gain (pts) [95% CI] | improved |",
             "| --- | --- | --- | --- | --- | --- |"]
    for c in report.curves:
        steps = f"plateau: {c.steps_used[0]:.1f} ({c.steps_used[1]}-{c.steps_used[2]})" if c.plateau else str(c.steps)
        lines.append(f"| {c.variant} | {c.condition} | {steps} | {_pct(c.mean)} | {_gain(c.gain_mean, c.gain_ci)} | "
                     f"{c.improved}/{c.subjects} |")
    return lines


def _meta_table(report: Report) -> list[str]:
    lines = ["", "Reptile init vs plain init (paired over subjects):", "",
             "| variant | vs | condition | steps | meta acc % | plain acc % | diff (pts) [95% CI] | meta better |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for m in report.meta:
        lines.append(f"| {m.variant} | {m.baseline} | {m.condition} | {m.steps} | {_pct(m.meta_mean)} | "
                     f"{_pct(m.plain_mean)} | {_gain(m.diff_mean, m.diff_ci)} | {m.better}/{m.subjects} |")
    return lines


def _quantization_table(report: Report) -> list[str]:
    lines = ["", "| variant | quantization | model bytes | same-trial acc % | cross-placement acc % "
             "| Δ vs float32 (pts) |", "| --- | --- | --- | --- | --- | --- |"]
    for q in report.quantization:
        delta = ", ".join(f"{v:+.1f}" for v in q.delta_vs_float32.values())
        lines.append(f"| {q.variant} | {q.quantization} | {q.model_bytes} | {_pct(q.accuracy['same-trial'])} | "
                     f"{_pct(q.accuracy['cross-placement'])} | {delta} |")
    return lines


def format_compression(report: CompressionReport) -> str:
    """Markdown tables: compressed variants vs float32, then prune-then-personalize gains."""
    lines = ["| variant | condition | quantization | model bytes | params | MACs/inference | global acc % "
             "| Δ vs float32 (pts) [95% CI] |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in report.rows:
        lines.append(f"| {r.variant} | {r.condition} | {r.quantization} | {r.model_bytes} | {r.total_params} | "
                     f"{r.macs_per_inference} | {_pct(r.mean)} ± {_pct(r.sd)} | {_gain(r.delta_mean, r.delta_ci)} |")
    lines += ["", "| variant | condition | personalizes | trainable | steps | global acc % | personalized acc % "
              "| paired gain (pts) [95% CI] | improved |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for p in report.personalization:
        lines.append(f"| {p.variant} | {p.condition} | {p.technique} | {p.trainable_params} | {p.steps:.0f} | "
                     f"{_pct(p.global_mean)} | {_pct(p.personal_mean)} | {_gain(p.gain_mean, p.gain_ci)} | "
                     f"{p.improved}/{p.subjects} |")
    return "\n".join(lines)


def format_transfer(rows: Sequence[TransferRow]) -> list[str]:
    """Markdown table lines of the transfer section."""
    lines = ["", "Transfer baseline (same windows; last layer trained; gain on the five shared classes):", "",
             "| variant | condition | test windows | zero-shot acc % (5 / 6 classes) | tuned acc % (5 / 6 classes) "
             "| paired gain (pts) [95% CI] | improved | trainable | MACs/inference |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(
            f"| {r.variant} | {r.condition} | {r.test_windows} | {_pct(r.zero_shot_shared)} / {_pct(r.zero_shot_all)} "
            f"| {_pct(r.tuned_shared)} / {_pct(r.tuned_all)} | {_gain(r.gain_mean, r.gain_ci)} | "
            f"{r.improved}/{r.subjects} | {r.trainable_params} ({_pct(r.trainable_fraction)}%) | "
            f"{r.macs_per_inference} |")
    return lines


def format_early_exit(rows: Sequence[EarlyExitRow]) -> list[str]:
    """Markdown table lines of the early-exit section."""
    lines = ["", "Early-exit cascade (har-cnn/early-exit, global model, all windows of the held-out subjects):", "",
             "| threshold | exit fraction % | accuracy % | accuracy of exited % | avg MACs/input | vs full path |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        label = "full path only" if r.threshold is None else f"{r.threshold:.2f}" + (" (chosen)" if r.chosen else "")
        exited = "–" if r.exit_accuracy is None else _pct(r.exit_accuracy)
        lines.append(f"| {label} | {_pct(r.exit_fraction)} | {_pct(r.accuracy)} | {exited} | "
                     f"{r.avg_macs:,.0f} | {100 * r.macs_fraction:.0f}% |")
    return lines


def format_report(report: Report) -> str:
    """Markdown tables of a `models.har.evaluate.Report` (the README tables)."""
    return "\n".join(_personalization_table(report) + _fraction_table(report) + _curve_table(report)
                     + _meta_table(report) + _quantization_table(report)
                     + (["", format_compression(report.compression)] if report.compression else [])
                     + format_transfer(report.transfer) + format_early_exit(report.early_exit))
