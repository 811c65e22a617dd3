/* neuron_complex.c — complex resonate-and-fire neurons (SPEC.md §1, "Complex neurons"):
 *   lam   = exp(-1/tau_m) * (cos omega + i sin omega)      per neuron
 *   u(t)  = lam * v(t-1) + g * x(t)                         complex
 *   n(t)  = fire(Re u(t), thr)                              strict, as for real neurons
 *   s(t)  = n * u/|u|                                       the spike carries the unit phase
 *   v(t)  = u - thr*s (soft), (1-h)*u + h*v_reset (hard, h = min(n,1)), or u (none)
 * The reset is applied in the same step. tau_m = 0 means no decay (|lam| = 1).
 * Backward treats (Re, Im) as two real variables; gradients reach x, thr, omega and tau_m. */
#include "neuron/neuron_impl.h"

#include <math.h>

void spk__complex_update_lam(spk_neuron *nr) {
    for (int i = 0; i < nr->n; i++) {
        double tau = nr->param[SPK_NP_TAU][i];
        double rho = tau > 0 ? exp(-1.0 / tau) : 1.0;
        double w = nr->param[SPK_NP_OMEGA][i];
        nr->lam_re[i] = (float)(rho * cos(w));
        nr->lam_im[i] = (float)(rho * sin(w));
    }
}

spk_status spk__complex_step(const spk_neuron *nr, int B, int64_t t, float *state, float *u, float *s,
                             const float *x, const float *x_im, float *s_im) {
    const spk_neuron_config *c = &nr->cfg;
    const int N = nr->n;
    const size_t BN = (size_t)B * N;
    float *V = state + nr->slot[SPK_SLOT_V] * BN;
    float *VI = state + nr->slot[SPK_SLOT_VI] * BN;
    float *S = state + nr->slot[SPK_SLOT_S] * BN;
    int64_t total = (int64_t)BN;
#pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < total; k++) {
        int i = (int)(k % N);
        float lr = nr->lam_re[i], li = nr->lam_im[i], thr = nr->param[SPK_NP_THR][i];
        float xr = x[k], xi = x_im ? x_im[k] : 0.0f;
        float ur = lr * V[k] - li * VI[k] + c->gain * xr;
        float ui = li * V[k] + lr * VI[k] + c->gain * xi;
        float n = spk__fire(nr, ur, thr, t, (uint64_t)k);
        float mag = sqrtf(ur * ur + ui * ui);
        float pr = mag > 0 ? ur / mag : 1.0f, pi = mag > 0 ? ui / mag : 0.0f;
        float sr = n * pr, si = n * pi;
        float h = n > 1.0f ? 1.0f : n;
        switch (c->reset) {
        case SPK_RESET_SOFT: V[k] = ur - thr * sr; VI[k] = ui - thr * si; break;
        case SPK_RESET_HARD:
        case SPK_RESET_HARD_ALL: V[k] = (1.0f - h) * ur + h * c->v_reset; VI[k] = (1.0f - h) * ui; break;
        default: V[k] = ur; VI[k] = ui; break;
        }
        S[k] = n;
        if (u) u[k] = ur;
        s[k] = sr;
        if (s_im) s_im[k] = si;
    }
    return SPK_OK;
}

spk_status spk__complex_step_backward(spk_neuron *nr, int B, int64_t t, float *dstate, float *dx,
                                      float *dx_im, const float *state_prev, const float *s,
                                      const float *x, const float *x_im, const float *ds,
                                      const float *ds_im, const float *dmem) {
    (void)t; (void)s;
    const spk_neuron_config *c = &nr->cfg;
    const int N = nr->n;
    const size_t BN = (size_t)B * N;
    const int oV = nr->slot[SPK_SLOT_V], oVI = nr->slot[SPK_SLOT_VI], oS = nr->slot[SPK_SLOT_S];
    const int detach = c->detach_reset;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        double acc_lr = 0, acc_li = 0, acc_thr = 0;
        float lr = nr->lam_re[i], li = nr->lam_im[i], thr = nr->param[SPK_NP_THR][i];
        for (int b = 0; b < B; b++) {
            size_t k = (size_t)b * N + i;
            float vr = state_prev[oV * BN + k], vi = state_prev[oVI * BN + k];
            float xr = x[k], xi = x_im ? x_im[k] : 0.0f;
            float ur = lr * vr - li * vi + c->gain * xr;
            float ui = li * vr + lr * vi + c->gain * xi;
            float mag = sqrtf(ur * ur + ui * ui);
            float pr = mag > 0 ? ur / mag : 1.0f, pi = mag > 0 ? ui / mag : 0.0f;
            /* n from the forward output: s = n * pr, so n = s / pr where pr != 0, else from |s| */
            float cnt = fabsf(pr) > 1e-20f ? s[k] / pr : 0.0f;
            cnt = roundf(cnt);
            float sr = cnt * pr, si = cnt * pi;

            float gvr = dstate[oV * BN + k] + (dmem ? dmem[k] : 0.0f);
            float gvi = dstate[oVI * BN + k];
            float Gsr = ds ? ds[k] : 0.0f, Gsi = ds_im ? ds_im[k] : 0.0f;
            float Gn = dstate[oS * BN + k];
            float gur, gui;
            float h = cnt > 1.0f ? 1.0f : cnt;
            switch (c->reset) {
            case SPK_RESET_SOFT:
                gur = gvr; gui = gvi;
                if (!detach) { Gsr += -thr * gvr; Gsi += -thr * gvi; }
                acc_thr += -(double)(gvr * sr + gvi * si);
                break;
            case SPK_RESET_HARD:
            case SPK_RESET_HARD_ALL:
                gur = gvr * (1.0f - h); gui = gvi * (1.0f - h);
                if (!detach && cnt <= 1.0f) Gn += gvr * (c->v_reset - ur) + gvi * (0.0f - ui);
                break;
            default:
                gur = gvr; gui = gvi;
                break;
            }
            /* s = n * (ur, ui) / |u| */
            Gn += Gsr * pr + Gsi * pi;
            if (mag > 0 && cnt != 0.0f) {
                float m3 = mag * mag * mag;
                gur += cnt * (Gsr * ui * ui - Gsi * ur * ui) / m3;
                gui += cnt * (-Gsr * ur * ui + Gsi * ur * ur) / m3;
            }
            spk__fire_grad fg = spk__fire_grad_at(nr, ur, thr);
            gur += Gn * fg.dsdm;
            acc_thr += (double)Gn * fg.dsdthr;
            /* u = lam * v + g * x */
            dstate[oV * BN + k] = gur * lr + gui * li;
            dstate[oVI * BN + k] = -gur * li + gui * lr;
            dstate[oS * BN + k] = 0.0f;
            acc_lr += (double)gur * vr + (double)gui * vi;
            acc_li += -(double)gur * vi + (double)gui * vr;
            dx[k] += c->gain * gur;
            if (dx_im) dx_im[k] += c->gain * gui;
        }
        nr->grad[SPK_NP_THR][i] += (float)acc_thr;
        /* lam = rho (cos w + i sin w), rho = exp(-1/tau) */
        double w = nr->param[SPK_NP_OMEGA][i], tau = nr->param[SPK_NP_TAU][i];
        nr->grad[SPK_NP_OMEGA][i] += (float)(acc_lr * (-li) + acc_li * lr);
        if (tau > 0) {
            double rho = exp(-1.0 / tau);
            nr->grad[SPK_NP_TAU][i] += (float)((acc_lr * cos(w) + acc_li * sin(w)) * rho / (tau * tau));
        }
    }
    return SPK_OK;
}
