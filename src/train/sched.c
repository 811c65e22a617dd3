/* sched.c — learning-rate schedules as pure functions of the step: constant, step decay
 * (torch StepLR) and cosine annealing (torch CosineAnnealingLR's closed form), each behind
 * an optional linear warm-up. No state, so resuming a run only needs its step count.
 *
 * Warm-up: for step < warmup_steps, lr = base_lr * (step + 1) / warmup_steps (reaching base_lr
 * on the last warm-up step); after it the schedule runs on s = step - warmup_steps:
 *   CONST   base_lr
 *   STEP    base_lr * gamma^floor(s / step_size)
 *   COSINE  min_lr + (base_lr - min_lr) * (1 + cos(pi * s / total_steps)) / 2 for s <= total_steps,
 *           and min_lr after it (torch's closed form would rise again, periodically; a run
 *           that outlasts its schedule keeps the floor instead)
 * A schedule that cannot be evaluated (unknown kind, step < 0, warmup_steps < 0, STEP with
 * step_size < 1, COSINE with total_steps < 1, a non-finite rate) gives NaN, which
 * spk_optim_step rejects with SPK_ERR_INVALID_ARG, so a bad configuration stops a run loudly. */
#include "core/core.h"

#include <math.h>

#define PI 3.14159265358979323846

float spk_sched_lr(const spk_sched *s, long step) {
    if (!s || step < 0 || s->warmup_steps < 0 || !isfinite(s->base_lr)) return NAN;
    if (step < s->warmup_steps) return (float)((double)s->base_lr * (double)(step + 1) / s->warmup_steps);
    const double base = s->base_lr;
    const long k = step - s->warmup_steps;
    switch (s->kind) {
    case SPK_SCHED_CONST:
        return s->base_lr;
    case SPK_SCHED_STEP:
        if (s->step_size < 1 || !isfinite(s->gamma)) return NAN;
        return (float)(base * pow((double)s->gamma, (double)(k / s->step_size)));
    case SPK_SCHED_COSINE: {
        if (s->total_steps < 1 || !isfinite(s->min_lr)) return NAN;
        const double lo = s->min_lr;
        if (k >= s->total_steps) return s->min_lr;
        return (float)(lo + (base - lo) * 0.5 * (1.0 + cos(PI * (double)k / s->total_steps)));
    }
    default:
        return NAN;
    }
}
