/* test_neuron_fixtures.c — spk_neuron against the snnTorch 0.9.4 single-layer goldens in
 * shared/fixtures/neuron/ (*.h5) (see shared/fixtures/MANIFEST.md, "Conventions a C
 * implementation must match" and "Neuron-level goldens").
 *
 * For every file the neuron is configured to match the recorded snnTorch layer, run forward
 * on `input` [T,B,N] and compared: spikes exactly, `mem` (and `syn` for Synaptic) within
 * 1e-5. Then, for each recorded surrogate, backward runs with ds = loss_coef_spk and
 * dmem = loss_coef_mem; dL/dinput and every recorded parameter gradient are compared within
 * 1e-4 of the reference array's largest absolute value, and the loss within 1e-4 relative.
 * RLeaky's recurrent Linear (W_rec, b_rec) is computed here around per-step calls.
 * Exit 77 (skip) when the fixtures directory is absent; a missing file inside it fails. */
#define _POSIX_C_SOURCE 200809L
#include "h5read.h"
#include "testutil.h"

#include <dirent.h>
#include <string.h>

#define PI_D 3.14159265358979323846

#define MEM_TOL 1e-5  /* absolute, membrane / synaptic current                     */
#define GRAD_TOL 1e-4 /* relative to the reference array's max |.|                 */
#define LOSS_TOL 1e-4 /* relative                                                   */
#define SEQ_TOL 1e-5  /* backward_seq vs per-step backward (same library, same math) */
#define REL_FLOOR 1e-6
#define MAX_SHOW 5

typedef enum { FAM_LEAKY, FAM_LAPICQUE, FAM_SYNAPTIC, FAM_RLEAKY, FAM_EDGE } family;

typedef struct {
    const char *name;
    family fam;
    spk_reset_kind reset;
    spk_reset_timing timing;
    int detach;
} fixture_spec;

static const fixture_spec SPECS[] = {
    {"leaky_subtract", FAM_LEAKY, SPK_RESET_SOFT, SPK_TIMING_DELAYED, 1},
    {"leaky_zero", FAM_LEAKY, SPK_RESET_HARD, SPK_TIMING_DELAYED, 1},
    {"leaky_none", FAM_LEAKY, SPK_RESET_NONE, SPK_TIMING_DELAYED, 1},
    {"leaky_subtract_nodelay", FAM_LEAKY, SPK_RESET_SOFT, SPK_TIMING_SAME_STEP_SNNTORCH, 0},
    {"leaky_zero_nodelay", FAM_LEAKY, SPK_RESET_HARD, SPK_TIMING_SAME_STEP_SNNTORCH, 0},
    {"leaky_edge_equal_threshold", FAM_EDGE, SPK_RESET_SOFT, SPK_TIMING_DELAYED, 1},
    {"lapicque_RC", FAM_LAPICQUE, SPK_RESET_SOFT, SPK_TIMING_DELAYED, 1},
    {"lapicque_beta", FAM_LAPICQUE, SPK_RESET_SOFT, SPK_TIMING_DELAYED, 1},
    {"synaptic_subtract", FAM_SYNAPTIC, SPK_RESET_SOFT, SPK_TIMING_DELAYED, 1},
    {"synaptic_zero", FAM_SYNAPTIC, SPK_RESET_HARD_ALL, SPK_TIMING_DELAYED, 1},
    {"rleaky_subtract", FAM_RLEAKY, SPK_RESET_SOFT, SPK_TIMING_DELAYED, 1},
    {"rleaky_zero", FAM_RLEAKY, SPK_RESET_HARD_ALL, SPK_TIMING_DELAYED, 1},
};
#define NSPECS ((int)(sizeof SPECS / sizeof SPECS[0]))

typedef struct {
    const char *group; /* grads/<group> */
    spk_surrogate_kind kind;
    float scale;
} surrogate_spec;

/* ---------------------------------------------------------------------------------- */

/* Compare spikes exactly; print the first few mismatches. Returns the mismatch count. */
static size_t compare_spikes(const char *tag, const float *got, const float *ref,
                             const float *mem_got, const float *mem_ref, int T, int B, int N) {
    size_t bad = 0;
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++)
            for (int n = 0; n < N; n++) {
                size_t i = ((size_t)t * B + b) * N + n;
                if (!(got[i] == ref[i])) {
                    if (bad < MAX_SHOW)
                        fprintf(stderr,
                                "  %s: spike mismatch t=%d b=%d n=%d: expected %g got %g "
                                "(mem expected %.9g got %.9g)\n",
                                tag, t, b, n, ref[i], got[i], mem_ref ? mem_ref[i] : NAN,
                                mem_got ? mem_got[i] : NAN);
                    bad++;
                }
            }
    CHECK_MSG(bad == 0, "%s: %zu of %zu spikes differ", tag, bad, (size_t)T * B * N);
    return bad;
}

/* Max |got-ref| with a report of where the largest error is when over tol. */
static double compare_abs(const char *tag, const char *what, const float *got, const float *ref,
                          int T, int B, int N, double tol) {
    size_t n = (size_t)T * B * N, worst = 0;
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)ref[i]);
        if (d > m || d != d) {
            m = d;
            worst = i;
            if (d != d) break;
        }
    }
    if (!(m <= tol)) {
        int t = (int)(worst / ((size_t)B * N)), b = (int)(worst / N % B), k = (int)(worst % N);
        fprintf(stderr, "  %s: %s max abs err %.3g at t=%d b=%d n=%d: expected %.9g got %.9g\n",
                tag, what, m, t, b, k, ref[worst], got[worst]);
        /* The first step where it goes wrong is what locates the bug. */
        for (size_t i = 0; i < n; i++) {
            double d = fabs((double)got[i] - (double)ref[i]);
            if (!(d <= tol)) {
                t = (int)(i / ((size_t)B * N));
                b = (int)(i / N % B);
                k = (int)(i % N);
                fprintf(stderr, "  %s: %s first err > %.3g at t=%d b=%d n=%d: expected %.9g got %.9g\n",
                        tag, what, tol, t, b, k, ref[i], got[i]);
                break;
            }
        }
    }
    CHECK_MSG(m <= tol, "%s: %s max abs err %.3g > %.3g", tag, what, m, tol);
    return m;
}

/* Relative error against the reference's max |.|; reports the worst element when over tol. */
static double compare_rel(const char *tag, const char *what, const float *got, const float *ref,
                          size_t n, double tol) {
    double r = tu_max_rel_diff(got, ref, n, REL_FLOOR);
    if (!(r <= tol)) {
        size_t worst = 0;
        double m = -1;
        for (size_t i = 0; i < n; i++) {
            double d = fabs((double)got[i] - (double)ref[i]);
            if (d > m || d != d) {
                m = d;
                worst = i;
                if (d != d) break;
            }
        }
        fprintf(stderr, "  %s: %s rel err %.3g; worst at flat index %zu: expected %.9g got %.9g\n",
                tag, what, r, worst, ref[worst], got[worst]);
    }
    CHECK_MSG(r <= tol, "%s: %s rel err %.3g > %.3g", tag, what, r, tol);
    return r;
}

static double loss_of(const float *cs, const float *s, const float *cm, const float *m, size_t n) {
    double L = 0;
    for (size_t i = 0; i < n; i++) L += (double)cs[i] * s[i] + (double)cm[i] * m[i];
    return L;
}

/* ---------------------------------------------------------------------------------- */
/* The edge case: hand-made, forward only, exact. */

static void run_edge(const char *file) {
    size_t n = 0, dims[8];
    int nd = 0;
    float *x = h5_read_floats(file, "input", &n, &nd, dims);
    CHECK_MSG(x && nd == 3, "%s: input must be a [T,B,N] dataset", file);
    if (!x || nd != 3) {
        free(x);
        return;
    }
    int T = (int)dims[0], B = (int)dims[1], N = (int)dims[2];
    double beta = 0, thr = 0;
    CHECK_MSG(h5_attr_double(file, "beta", &beta) == 0, "%s: attribute beta", file);
    CHECK_MSG(h5_attr_double(file, "threshold", &thr) == 0, "%s: attribute threshold", file);

    static const struct {
        spk_reset_timing timing;
        int detach;
        const char *mem, *spk, *label;
    } cases[2] = {
        {SPK_TIMING_DELAYED, 1, "mem", "spk", "delayed"},
        {SPK_TIMING_SAME_STEP_SNNTORCH, 0, "reset_delay_false/mem", "reset_delay_false/spk", "same_step"},
    };
    for (int c = 0; c < 2; c++) {
        char tag[128];
        snprintf(tag, sizeof tag, "leaky_edge_equal_threshold/%s", cases[c].label);
        float *mref = tu_read_floats(file, cases[c].mem, n), *sref = tu_read_floats(file, cases[c].spk, n);
        spk_neuron_config cfg = spk_neuron_config_default();
        cfg.kind = SPK_NEURON_LIF;
        cfg.fire = SPK_FIRE_HEAVISIDE;
        cfg.reset = SPK_RESET_SOFT;
        cfg.timing = cases[c].timing;
        cfg.detach_reset = cases[c].detach;
        cfg.clamp_decay = 1;
        cfg.lam = (float)beta;
        cfg.thr = (float)thr;
        cfg.gain = 1.0f;
        spk_neuron *nr = NULL;
        CHECK_OK(spk_neuron_create(&nr, &cfg, N));
        if (!nr || !mref || !sref) {
            spk_neuron_free(nr);
            free(mref);
            free(sref);
            continue;
        }
        size_t SS = spk_neuron_state_size(nr, B);
        float *states = calloc((size_t)(T + 1) * SS, sizeof(float));
        float *u = calloc(n, sizeof(float)), *s = calloc(n, sizeof(float));
        float *m = calloc(n, sizeof(float));
        CHECK_OK(spk_neuron_forward_seq(nr, T, B, states, u, s, m, x));
        size_t bad = compare_spikes(tag, s, sref, m, mref, T, B, N);
        double em = compare_abs(tag, "mem", m, mref, T, B, N, 0.0);
        printf("%-44s spk_mismatch=%zu mem_abs=%.3g (exact required)\n", tag, bad, em);
        free(states);
        free(u);
        free(s);
        free(m);
        free(mref);
        free(sref);
        spk_neuron_free(nr);
    }
    free(x);
}

/* ---------------------------------------------------------------------------------- */
/* Learnable layers with recorded gradients. */

typedef struct {
    int T, B, N;
    size_t n; /* T*B*N */
    float *x, *cs, *cm, *spk, *mem, *syn;
    float *beta, *thr, *alpha, *W, *brec;
    float lam_lapicque, gain_lapicque;
} fixture_data;

static void free_data(fixture_data *d) {
    free(d->x);
    free(d->cs);
    free(d->cm);
    free(d->spk);
    free(d->mem);
    free(d->syn);
    free(d->beta);
    free(d->thr);
    free(d->alpha);
    free(d->W);
    free(d->brec);
    memset(d, 0, sizeof *d);
}

static int load_data(const char *file, const fixture_spec *sp, fixture_data *d) {
    memset(d, 0, sizeof *d);
    size_t n = 0, dims[8];
    int nd = 0;
    d->x = h5_read_floats(file, "input", &n, &nd, dims);
    CHECK_MSG(d->x && nd == 3, "%s: input must be a [T,B,N] dataset", file);
    if (!d->x || nd != 3) return -1;
    d->T = (int)dims[0];
    d->B = (int)dims[1];
    d->N = (int)dims[2];
    d->n = n;
    size_t N = (size_t)d->N;
    d->cs = tu_read_floats(file, "loss_coef_spk", n);
    d->cm = tu_read_floats(file, "loss_coef_mem", n);
    d->spk = tu_read_floats(file, "spk", n);
    d->mem = tu_read_floats(file, "mem", n);
    d->thr = tu_read_floats(file, "params/threshold", N);
    int ok = d->cs && d->cm && d->spk && d->mem && d->thr;
    if (sp->fam != FAM_LAPICQUE) {
        d->beta = tu_read_floats(file, "params/beta", N);
        ok = ok && d->beta;
    }
    if (sp->fam == FAM_SYNAPTIC) {
        d->syn = tu_read_floats(file, "syn", n);
        d->alpha = tu_read_floats(file, "params/alpha", N);
        ok = ok && d->syn && d->alpha;
    }
    if (sp->fam == FAM_RLEAKY) {
        d->W = tu_read_floats(file, "params/W_rec", N * N);
        d->brec = tu_read_floats(file, "params/b_rec", N);
        ok = ok && d->W && d->brec;
    }
    if (sp->fam == FAM_LAPICQUE) {
        float *R = tu_read_floats(file, "params/R", 1), *C = tu_read_floats(file, "params/C", 1);
        float *dt = tu_read_floats(file, "params/time_step", 1);
        if (R && C && dt) {
            /* snnTorch: x*R*(1/(R*C))*dt + (1 - dt/(R*C))*mem, in float32. */
            float RC = R[0] * C[0];
            d->lam_lapicque = 1.0f - dt[0] / RC;
            d->gain_lapicque = R[0] * (1.0f / RC) * dt[0];
        } else {
            ok = 0;
        }
        free(R);
        free(C);
        free(dt);
    }
    /* The goldens are meant to exercise firing: a file with no spike would test little. */
    if (ok) {
        size_t cnt = 0;
        for (size_t i = 0; i < n; i++) cnt += d->spk[i] != 0;
        CHECK_MSG(cnt > 0, "%s: reference has no spikes", file);
    }
    return ok ? 0 : -1;
}

static spk_neuron *make_neuron(const char *tag, const fixture_spec *sp, const fixture_data *d,
                               const surrogate_spec *su) {
    spk_neuron_config cfg = spk_neuron_config_default();
    cfg.kind = sp->fam == FAM_SYNAPTIC ? SPK_NEURON_CUBA : SPK_NEURON_LIF;
    cfg.fire = SPK_FIRE_HEAVISIDE;
    cfg.reset = sp->reset;
    cfg.timing = sp->timing;
    cfg.detach_reset = sp->detach;
    cfg.clamp_decay = 1;
    cfg.surrogate = su->kind;
    cfg.surrogate_scale = su->scale;
    cfg.thr = d->thr[0];
    cfg.gain = 1.0f;
    cfg.v_reset = 0.0f;
    if (sp->fam == FAM_LAPICQUE) {
        cfg.lam = d->lam_lapicque;
        cfg.gain = d->gain_lapicque;
    } else {
        cfg.lam = d->beta[0];
    }
    if (sp->fam == FAM_SYNAPTIC) cfg.alpha = d->alpha[0];
    spk_neuron *nr = NULL;
    spk_status st = spk_neuron_create(&nr, &cfg, d->N);
    CHECK_MSG(st == SPK_OK && nr, "%s: spk_neuron_create: %s: %s", tag, spk_status_str(st),
              spk_errmsg(NULL));
    if (st != SPK_OK || !nr) return NULL;
    CHECK_OK(spk_neuron_set_param(nr, SPK_NP_THR, d->thr, d->N));
    if (sp->fam == FAM_LAPICQUE)
        CHECK_OK(spk_neuron_set_param(nr, SPK_NP_LAM, &d->lam_lapicque, 1));
    else
        CHECK_OK(spk_neuron_set_param(nr, SPK_NP_LAM, d->beta, d->N));
    if (sp->fam == FAM_SYNAPTIC) CHECK_OK(spk_neuron_set_param(nr, SPK_NP_ALPHA, d->alpha, d->N));
    /* The parameters must read back as set. */
    const float *pt = spk_neuron_get_param(nr, SPK_NP_THR), *pl = spk_neuron_get_param(nr, SPK_NP_LAM);
    CHECK_MSG(pt && pl, "%s: spk_neuron_get_param returned NULL for thr/lam", tag);
    if (pt && pl)
        for (int i = 0; i < d->N; i++) {
            float want_l = sp->fam == FAM_LAPICQUE ? d->lam_lapicque : d->beta[i];
            CHECK_MSG(pt[i] == d->thr[i] && pl[i] == want_l, "%s: param read-back neuron %d", tag, i);
        }
    return nr;
}

/* The RLeaky recurrence around the neuron: x_eff[t] = x[t] + s[t-1] @ W^T + b. */
static void rleaky_input(const fixture_data *d, const float *s_prev, const float *x_t, float *xe) {
    int B = d->B, N = d->N;
    for (int b = 0; b < B; b++)
        for (int j = 0; j < N; j++) {
            float acc = 0.0f;
            if (s_prev)
                for (int i = 0; i < N; i++) acc += s_prev[(size_t)b * N + i] * d->W[(size_t)j * N + i];
            float rec = acc + d->brec[j];
            xe[(size_t)b * N + j] = x_t[(size_t)b * N + j] + rec;
        }
}

static void run_case(const char *file, const fixture_spec *sp, const fixture_data *d,
                     const surrogate_spec *su) {
    char tag[160], grp[128], path[192];
    snprintf(tag, sizeof tag, "%s/%s", sp->name, su->group);
    snprintf(grp, sizeof grp, "grads/%s", su->group);
    CHECK_MSG(h5_exists(file, grp), "%s: group %s missing", file, grp);
    if (!h5_exists(file, grp)) return;

    spk_neuron *nr = make_neuron(tag, sp, d, su);
    if (!nr) return;
    const int T = d->T, B = d->B, N = d->N;
    const size_t n = d->n, BN = (size_t)B * N;
    const size_t SS = spk_neuron_state_size(nr, B);
    CHECK_MSG(SS >= BN && SS % BN == 0, "%s: state size %zu is not a multiple of B*N=%zu", tag, SS, BN);
    const int offV = spk_neuron_slot_offset(nr, SPK_SLOT_V);
    const int offI = spk_neuron_slot_offset(nr, SPK_SLOT_I);
    CHECK_MSG(offV >= 0, "%s: no V slot", tag);
    if (sp->fam == FAM_SYNAPTIC) CHECK_MSG(offI >= 0, "%s: CUBA neuron has no I slot", tag);
    if (offV < 0 || (sp->fam == FAM_SYNAPTIC && offI < 0) || SS < BN) {
        spk_neuron_free(nr);
        return;
    }

    float *states = calloc((size_t)(T + 1) * SS, sizeof(float));
    float *u = calloc(n, sizeof(float)), *s = calloc(n, sizeof(float));
    float *m = calloc(n, sizeof(float)), *xin = calloc(n, sizeof(float));
    float *dx = calloc(n, sizeof(float));
    if (!states || !u || !s || !m || !xin || !dx) {
        CHECK_MSG(0, "%s: out of memory", tag);
        goto out;
    }

    /* ---- forward ---- */
    if (sp->fam == FAM_RLEAKY) {
        for (int t = 0; t < T; t++) {
            float *st = states + (size_t)(t + 1) * SS;
            memcpy(st, states + (size_t)t * SS, SS * sizeof(float));
            rleaky_input(d, t ? s + (size_t)(t - 1) * BN : NULL, d->x + (size_t)t * BN, xin + (size_t)t * BN);
            CHECK_OK(spk_neuron_step(nr, B, t, st, u + (size_t)t * BN, s + (size_t)t * BN,
                                     xin + (size_t)t * BN, NULL, NULL));
            memcpy(m + (size_t)t * BN, st + (size_t)offV * BN, BN * sizeof(float));
        }
    } else {
        memcpy(xin, d->x, n * sizeof(float));
        CHECK_OK(spk_neuron_forward_seq(nr, T, B, states, u, s, m, xin));
        /* The reported membrane is the V slot of the state after each step. */
        size_t incons = 0;
        for (int t = 0; t < T; t++)
            for (size_t i = 0; i < BN; i++)
                incons += !(m[(size_t)t * BN + i] == states[(size_t)(t + 1) * SS + (size_t)offV * BN + i]);
        CHECK_MSG(incons == 0, "%s: forward_seq mem differs from the state's V slot in %zu places", tag, incons);
        /* The initial state must be zero. */
        size_t nz = 0;
        for (size_t i = 0; i < SS; i++) nz += states[i] != 0.0f;
        CHECK_MSG(nz == 0, "%s: states[0] is not the zero state (%zu non-zeros)", tag, nz);
    }
    size_t bad = compare_spikes(tag, s, d->spk, m, d->mem, T, B, N);
    double em = compare_abs(tag, "mem", m, d->mem, T, B, N, MEM_TOL);
    double es = 0;
    if (sp->fam == FAM_SYNAPTIC) {
        float *syn = calloc(n, sizeof(float));
        if (syn) {
            for (int t = 0; t < T; t++)
                memcpy(syn + (size_t)t * BN, states + (size_t)(t + 1) * SS + (size_t)offI * BN, BN * sizeof(float));
            es = compare_abs(tag, "syn", syn, d->syn, T, B, N, MEM_TOL);
            free(syn);
        }
    }

    /* ---- loss ---- */
    snprintf(path, sizeof path, "%s/loss", grp);
    float *Lref = tu_read_floats(file, path, 1);
    double L = loss_of(d->cs, s, d->cm, m, n), eL = NAN;
    if (Lref) {
        /* First my reading of the fixture: the loss of the reference arrays themselves. */
        double Lself = loss_of(d->cs, d->spk, d->cm, d->mem, n);
        CHECK_MSG(fabs(Lself - Lref[0]) <= LOSS_TOL * fmax(fabs(Lref[0]), REL_FLOOR),
                  "%s: loss of the reference arrays %.9g != recorded %.9g", tag, Lself, Lref[0]);
        eL = fabs(L - Lref[0]) / fmax(fabs(Lref[0]), REL_FLOOR);
        CHECK_MSG(eL <= LOSS_TOL, "%s: loss %.9g, expected %.9g (rel err %.3g)", tag, L, Lref[0], eL);
    }

    /* ---- backward ---- */
    spk_neuron_zero_grad(nr);
    float *gW = NULL, *gb = NULL;
    if (sp->fam == FAM_RLEAKY) {
        float *dstate = calloc(SS, sizeof(float)), *dsb = calloc(BN, sizeof(float));
        double *aW = calloc((size_t)N * N, sizeof(double)), *ab = calloc((size_t)N, sizeof(double));
        gW = calloc((size_t)N * N, sizeof(float));
        gb = calloc((size_t)N, sizeof(float));
        if (dstate && dsb && aW && ab && gW && gb) {
            for (int t = T - 1; t >= 0; t--) {
                const size_t o = (size_t)t * BN;
                /* ds[t] = dL/dspk[t] + the recurrent path into step t+1. */
                for (int b = 0; b < B; b++)
                    for (int i = 0; i < N; i++) {
                        float acc = d->cs[o + (size_t)b * N + i];
                        if (t + 1 < T) {
                            const float *dn = dx + o + BN + (size_t)b * N;
                            for (int j = 0; j < N; j++) acc += dn[j] * d->W[(size_t)j * N + i];
                        }
                        dsb[(size_t)b * N + i] = acc;
                    }
                CHECK_OK(spk_neuron_step_backward(nr, B, t, dstate, dx + o, NULL, states + (size_t)t * SS,
                                                  u + o, s + o, NULL, xin + o, NULL, dsb, NULL, d->cm + o));
                for (int b = 0; b < B; b++)
                    for (int j = 0; j < N; j++) {
                        double g = dx[o + (size_t)b * N + j];
                        ab[j] += g;
                        if (t > 0)
                            for (int i = 0; i < N; i++)
                                aW[(size_t)j * N + i] += g * s[o - BN + (size_t)b * N + i];
                    }
            }
            for (int i = 0; i < N * N; i++) gW[i] = (float)aW[i];
            for (int i = 0; i < N; i++) gb[i] = (float)ab[i];
        } else {
            CHECK_MSG(0, "%s: out of memory", tag);
        }
        free(dstate);
        free(dsb);
        free(aW);
        free(ab);
    } else {
        CHECK_OK(spk_neuron_backward_seq(nr, T, B, dx, states, u, s, xin, d->cs, d->cm));
    }

    /* ---- compare gradients ---- */
    double eg_in = NAN, eg_p[5] = {NAN, NAN, NAN, NAN, NAN};
    static const struct {
        const char *name;
        int param; /* spk_neuron_param, or -1 W_rec, -2 b_rec */
    } gparams[5] = {{"beta", SPK_NP_LAM}, {"threshold", SPK_NP_THR}, {"alpha", SPK_NP_ALPHA},
                    {"W_rec", -1}, {"b_rec", -2}};
    /* What each family must have recorded (so that a missing group member fails). */
    int expect[5] = {sp->fam != FAM_LAPICQUE, 1, sp->fam == FAM_SYNAPTIC, sp->fam == FAM_RLEAKY,
                     sp->fam == FAM_RLEAKY};
    snprintf(path, sizeof path, "%s/input", grp);
    float *gin = tu_read_floats(file, path, n);
    if (gin) eg_in = compare_rel(tag, "dL/dinput", dx, gin, n, GRAD_TOL);
    /* When the forward pass diverged, dL/dinput of the (b, n) trajectories whose forward
     * agreed still isolates the backward equations (each trajectory's input gradient
     * depends on that trajectory only, for the non-recurrent kinds). */
    if (gin && sp->fam != FAM_RLEAKY && (bad || !(em <= MEM_TOL))) {
        double scale = REL_FLOOR, merr = 0;
        int nok = 0;
        for (size_t i = 0; i < n; i++)
            if (fabs(gin[i]) > scale) scale = fabs(gin[i]);
        for (size_t j = 0; j < BN; j++) {
            int ok = 1;
            for (int t = 0; t < T && ok; t++) {
                size_t i = (size_t)t * BN + j;
                ok = s[i] == d->spk[i] && fabs((double)m[i] - d->mem[i]) <= MEM_TOL;
            }
            if (!ok) continue;
            nok++;
            for (int t = 0; t < T; t++) {
                size_t i = (size_t)t * BN + j;
                double e = fabs((double)dx[i] - gin[i]);
                if (e > merr || e != e) merr = e;
            }
        }
        double r = merr / scale;
        fprintf(stderr, "  %s: dL/dinput on the %d of %zu trajectories whose forward agrees: rel err %.3g\n",
                tag, nok, BN, r);
        CHECK_MSG(r <= GRAD_TOL, "%s: dL/dinput wrong even where the forward agrees (rel %.3g)", tag, r);
    }
    free(gin);
    for (int k = 0; k < 5; k++) {
        snprintf(path, sizeof path, "%s/%s", grp, gparams[k].name);
        int present = h5_exists(file, path);
        CHECK_MSG(present == expect[k], "%s: %s %s in the fixture", tag, path,
                  present ? "unexpectedly present" : "missing");
        if (!present) continue;
        size_t cnt = gparams[k].param == -1 ? (size_t)N * N : (size_t)N;
        float *ref = tu_read_floats(file, path, cnt);
        const float *got = NULL;
        if (gparams[k].param == -1) got = gW;
        else if (gparams[k].param == -2) got = gb;
        else got = spk_neuron_grad(nr, (spk_neuron_param)gparams[k].param);
        CHECK_MSG(got != NULL, "%s: no gradient accumulator for %s", tag, gparams[k].name);
        if (ref && got) {
            char what[64];
            snprintf(what, sizeof what, "dL/d%s", gparams[k].name);
            eg_p[k] = compare_rel(tag, what, got, ref, cnt, GRAD_TOL);
        }
        free(ref);
    }

    /* ---- backward_seq must equal the per-step backward it is a convenience over ---- */
    double eseq = NAN;
    if (sp->fam != FAM_RLEAKY) {
        float *g0[3] = {NULL, NULL, NULL};
        const spk_neuron_param pp[3] = {SPK_NP_LAM, SPK_NP_THR, SPK_NP_ALPHA};
        for (int k = 0; k < 3; k++) {
            const float *g = spk_neuron_grad(nr, pp[k]);
            if (g) {
                g0[k] = malloc((size_t)N * sizeof(float));
                if (g0[k]) memcpy(g0[k], g, (size_t)N * sizeof(float));
            }
        }
        float *dx2 = calloc(n, sizeof(float)), *dstate = calloc(SS, sizeof(float));
        if (dx2 && dstate) {
            spk_neuron_zero_grad(nr);
            for (int t = T - 1; t >= 0; t--) {
                const size_t o = (size_t)t * BN;
                CHECK_OK(spk_neuron_step_backward(nr, B, t, dstate, dx2 + o, NULL, states + (size_t)t * SS,
                                                  u + o, s + o, NULL, xin + o, NULL, d->cs + o, NULL,
                                                  d->cm + o));
            }
            char what[64];
            snprintf(what, sizeof what, "per-step vs backward_seq dx");
            eseq = compare_rel(tag, what, dx2, dx, n, SEQ_TOL);
            for (int k = 0; k < 3; k++) {
                const float *g = spk_neuron_grad(nr, pp[k]);
                if (g && g0[k]) {
                    snprintf(what, sizeof what, "per-step vs backward_seq grad[%s]",
                             k == 0 ? "lam" : k == 1 ? "thr" : "alpha");
                    double e = compare_rel(tag, what, g, g0[k], (size_t)N, SEQ_TOL);
                    if (e > eseq || e != e) eseq = e;
                }
            }
        }
        free(dx2);
        free(dstate);
        for (int k = 0; k < 3; k++) free(g0[k]);
    }

    printf("%-44s spk_mismatch=%zu mem_abs=%.3g", tag, bad, em);
    if (sp->fam == FAM_SYNAPTIC) printf(" syn_abs=%.3g", es);
    printf(" loss_rel=%.3g dinput_rel=%.3g", eL, eg_in);
    for (int k = 0; k < 5; k++)
        if (expect[k]) printf(" d%s_rel=%.3g", gparams[k].name, eg_p[k]);
    if (sp->fam != FAM_RLEAKY) printf(" seq_vs_step=%.3g", eseq);
    printf("\n");
    fflush(stdout);
    free(Lref);
    free(gW);
    free(gb);
out:
    free(states);
    free(u);
    free(s);
    free(m);
    free(xin);
    free(dx);
    spk_neuron_free(nr);
}

static void run_fixture(const char *file, const fixture_spec *sp) {
    if (sp->fam == FAM_EDGE) {
        run_edge(file);
        return;
    }
    fixture_data d;
    if (load_data(file, sp, &d) != 0) {
        CHECK_MSG(0, "%s: could not load the fixture", file);
        free_data(&d);
        return;
    }
    const surrogate_spec surr[2] = {
        {"atan_alpha2", SPK_SURR_ATAN, (float)(2.0 / (PI_D * 2.0))},
        {"fast_sigmoid_slope25", SPK_SURR_FAST_SIGMOID, 25.0f},
    };
    for (int k = 0; k < 2; k++) run_case(file, sp, &d, &surr[k]);
    free_data(&d);
}

int main(void) {
    const char *p = tu_fixture_path("neuron");
    if (!p) return TU_SKIP;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", p);

    /* Every .h5 in the folder must be one this test knows how to run. */
    DIR *dh = opendir(dir);
    CHECK_MSG(dh != NULL, "cannot open %s", dir);
    if (dh) {
        struct dirent *e;
        while ((e = readdir(dh)) != NULL) {
            size_t len = strlen(e->d_name);
            if (len < 4 || strcmp(e->d_name + len - 3, ".h5") != 0) continue;
            int known = 0;
            for (int i = 0; i < NSPECS; i++)
                if (strlen(SPECS[i].name) + 3 == len && strncmp(e->d_name, SPECS[i].name, len - 3) == 0)
                    known = 1;
            CHECK_MSG(known, "%s/%s: a neuron fixture this test does not cover", dir, e->d_name);
        }
        closedir(dh);
    }

    for (int i = 0; i < NSPECS; i++) {
        char rel[256], file[4096];
        snprintf(rel, sizeof rel, "neuron/%s.h5", SPECS[i].name);
        const char *fp = tu_fixture_path(rel);
        if (!fp) return TU_SKIP;
        snprintf(file, sizeof file, "%s", fp);
        FILE *f = fopen(file, "rb");
        CHECK_MSG(f != NULL, "%s: missing", file);
        if (!f) continue;
        fclose(f);
        run_fixture(file, &SPECS[i]);
    }
    return tu_finish("test_neuron_fixtures");
}
