/* cuba.c — large sparse networks of current-based LIF neurons with exponential synaptic
 * currents (the Vogels-Abbott CUBA benchmark network), simulated event-driven: connectivity
 * in compressed sparse rows by presynaptic neuron, spikes delivered only along the rows of
 * the neurons that fired, optional axonal delays in ring buffers, and a spike recorder.
 *
 * The neuron (mV, ms), integrated exactly over each step dt (a linear system):
 *   dv/dt  = (ge + gi - (v - El)) / tau_m     (v frozen while refractory)
 *   dge/dt = -ge / tau_e,  dgi/dt = -gi / tau_i
 *   v(t+dt) = El + (v - El) a_m + ge c_e + gi c_i,  a_x = exp(-dt/tau_x),
 *   c_x = tau_x / (tau_x - tau_m) (a_x - a_m)   (dt/tau_m a_m when tau_x = tau_m)
 * Order of work in a step (Brian2's schedule): update every neuron (all must decay); fire
 * where v > v_thr and not refractory; deliver the spikes (ge += w_exc or gi += w_inh at each
 * target: seen by the next update, or delay_steps later); reset v = v_reset. A neuron that
 * fired at step k is refractory (v frozen, cannot fire) while t - k < refractory / dt steps.
 * State is float32; the propagators are computed in double.
 *
 * Deliberately not here: plasticity, conductance-based synapses, threads (4000 neurons are a
 * few microseconds of work per step). */
#include "engine/engine_impl.h"

#include <math.h>
#include <string.h>

struct spk_cuba {
    spk__obj obj;
    spk_cuba_config cfg;
    int n, n_exc, ref_steps, D;
    float am, ae, ai, ce, ci, el, vt, vr, we, wi;
    float *v, *ge, *gi;
    int32_t *last;        /* step of the last spike */
    uint8_t *fired;
    int32_t *spk_now;     /* the spikes of this step */
    int64_t *ptr;         /* [n + 1] rows by presynaptic neuron */
    int32_t *post;        /* [n_syn] */
    int64_t n_syn;
    float *ring_e, *ring_i; /* [D + 1, n] increments waiting for their step (D > 0) */
    int64_t step;         /* steps simulated */
    int64_t spikes, sops;
    /* recorder */
    int32_t *rec_n;
    int64_t *rec_t;
    int64_t n_rec, cap_rec;
};

spk_cuba_config spk_cuba_config_default(void) {
    spk_cuba_config c;
    memset(&c, 0, sizeof c);
    c.n = 4000;
    c.exc_fraction = 0.8;
    c.p = 0.02;
    c.dt_ms = 0.1;
    c.tau_m_ms = 20;
    c.tau_e_ms = 5;
    c.tau_i_ms = 10;
    c.v_thr_mv = -50;
    c.v_reset_mv = -60;
    c.v_rest_mv = -49;
    c.refractory_ms = 5;
    c.w_exc_mv = 60 * 0.27 / 10;
    c.w_inh_mv = -20 * 4.5 / 10;
    c.delay_steps = 0;
    c.seed = 1;
    c.record = 1;
    return c;
}

void spk_cuba_free(spk_cuba *s) {
    if (!s) return;
    spk_free(s->v);
    spk_free(s->ge);
    spk_free(s->gi);
    spk_free(s->last);
    spk_free(s->fired);
    spk_free(s->spk_now);
    spk_free(s->ptr);
    spk_free(s->post);
    spk_free(s->ring_e);
    spk_free(s->ring_i);
    spk_free(s->rec_n);
    spk_free(s->rec_t);
    spk_free(s);
}

static spk_status check_config(const spk_cuba_config *c) {
#define BAD(...) spk__fail(NULL, SPK_ERR_INVALID_ARG, "cuba: " __VA_ARGS__)
    if (c->n < 1) return BAD("neurons = %d must be >= 1", c->n);
    if (!(c->exc_fraction >= 0 && c->exc_fraction <= 1)) return BAD("excitatory_fraction = %g must be in [0, 1]", c->exc_fraction);
    if (!c->pre && !(c->p >= 0 && c->p <= 1)) return BAD("connection_probability = %g must be in [0, 1]", c->p);
    const double pos[5] = {c->dt_ms, c->tau_m_ms, c->tau_e_ms, c->tau_i_ms, 1};
    const char *names[4] = {"dt_ms", "tau_m_ms", "tau_e_ms", "tau_i_ms"};
    for (int k = 0; k < 4; k++)
        if (!(pos[k] > 0 && isfinite(pos[k]))) return BAD("%s = %g must be > 0", names[k], pos[k]);
    if (!(c->refractory_ms >= 0 && isfinite(c->refractory_ms))) return BAD("refractory_ms = %g must be >= 0", c->refractory_ms);
    const double fin[5] = {c->v_thr_mv, c->v_reset_mv, c->v_rest_mv, c->w_exc_mv, c->w_inh_mv};
    const char *fn[5] = {"v_threshold_mv", "v_reset_mv", "v_rest_mv", "w_exc_mv", "w_inh_mv"};
    for (int k = 0; k < 5; k++)
        if (!isfinite(fin[k])) return BAD("%s = %g must be finite", fn[k], fin[k]);
    if (c->delay_steps < 0) return BAD("delay_steps = %d must be >= 0", c->delay_steps);
    if (c->delay_steps > 0 && (int64_t)(c->delay_steps + 1) * c->n > SPK_EVENT_MAX_RING)
        return spk__fail(NULL, SPK_ERR_UNSUPPORTED, "cuba: a delay of %d steps over %d neurons needs a ring buffer of %lld entries, more than the limit of %lld",
                         c->delay_steps, c->n, (long long)(c->delay_steps + 1) * c->n, (long long)SPK_EVENT_MAX_RING);
    if (c->n_syn < 0 || (c->n_syn > 0 && (!c->pre || !c->post))) return BAD("n_syn = %lld needs pre and post arrays", (long long)c->n_syn);
    for (int64_t k = 0; c->pre && k < c->n_syn; k++) {
        if (c->pre[k] < 0 || c->pre[k] >= c->n) return BAD("synapse %lld: presynaptic neuron %d does not exist (neurons 0..%d)", (long long)k, c->pre[k], c->n - 1);
        if (c->post[k] < 0 || c->post[k] >= c->n) return BAD("synapse %lld: postsynaptic neuron %d does not exist (neurons 0..%d)", (long long)k, c->post[k], c->n - 1);
    }
    return SPK_OK;
#undef BAD
}

/* Random rows: each (pre, post) pair independently with probability p, drawn by geometric
 * skips (about n*p draws per row); counted first, then filled with the same draws. */
static int64_t random_rows(const spk_cuba_config *c, int64_t *ptr, int32_t *post) {
    const int n = c->n;
    const double p = c->p, lq = p < 1 ? log1p(-p) : 0;
    spk_rng r = {c->seed, 1};
    int64_t tot = 0;
    for (int i = 0; i < n; i++) {
        if (ptr) ptr[i] = tot;
        if (p <= 0) continue;
        int64_t j = -1, k = 0;
        for (;;) {
            double u = spk_rng_uniform(r, (uint64_t)i, (uint64_t)(k >> 2), (unsigned)(k & 3));
            k++;
            double gap = p >= 1 ? 0 : floor(log(u) / lq);
            if (gap >= (double)n) break;
            j += 1 + (int64_t)gap;
            if (j >= n) break;
            if (post) post[tot] = (int32_t)j;
            tot++;
        }
    }
    if (ptr) ptr[n] = tot;
    return tot;
}

spk_status spk_cuba_create(spk_cuba **out, const spk_cuba_config *c) {
    if (!out) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_cuba_create: out is NULL");
    *out = NULL;
    if (!c) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_cuba_create: config is NULL");
    spk_status st = check_config(c);
    if (st) return st;
    spk_cuba *s = spk_calloc(1, sizeof *s);
    if (!s) return spk__fail(NULL, SPK_ERR_NOMEM, "cuba: no memory");
    spk__obj_init(&s->obj);
    s->cfg = *c;
    s->cfg.pre = s->cfg.post = NULL; /* not kept: the rows are built now */
    const int n = c->n;
    s->n = n;
    s->n_exc = (int)lround(c->exc_fraction * n);
    s->ref_steps = (int)llround(c->refractory_ms / c->dt_ms);
    s->D = c->delay_steps;
    const double dt = c->dt_ms, am = exp(-dt / c->tau_m_ms), ae = exp(-dt / c->tau_e_ms), ai = exp(-dt / c->tau_i_ms);
    s->am = (float)am;
    s->ae = (float)ae;
    s->ai = (float)ai;
    s->ce = (float)(c->tau_e_ms == c->tau_m_ms ? dt / c->tau_m_ms * am : c->tau_e_ms / (c->tau_e_ms - c->tau_m_ms) * (ae - am));
    s->ci = (float)(c->tau_i_ms == c->tau_m_ms ? dt / c->tau_m_ms * am : c->tau_i_ms / (c->tau_i_ms - c->tau_m_ms) * (ai - am));
    s->el = (float)c->v_rest_mv;
    s->vt = (float)c->v_thr_mv;
    s->vr = (float)c->v_reset_mv;
    s->we = (float)c->w_exc_mv;
    s->wi = (float)c->w_inh_mv;
    s->v = spk_malloc((size_t)n * sizeof(float));
    s->ge = spk_calloc((size_t)n, sizeof(float));
    s->gi = spk_calloc((size_t)n, sizeof(float));
    s->last = spk_malloc((size_t)n * sizeof(int32_t));
    s->fired = spk_calloc((size_t)n + 8, 1);
    s->spk_now = spk_malloc((size_t)n * sizeof(int32_t));
    s->ptr = spk_malloc(((size_t)n + 1) * sizeof(int64_t));
    if (s->D > 0) {
        s->ring_e = spk_calloc((size_t)(s->D + 1) * n, sizeof(float));
        s->ring_i = spk_calloc((size_t)(s->D + 1) * n, sizeof(float));
    }
    if (!s->v || !s->ge || !s->gi || !s->last || !s->fired || !s->spk_now || !s->ptr || (s->D > 0 && (!s->ring_e || !s->ring_i))) {
        spk_cuba_free(s);
        return spk__fail(NULL, SPK_ERR_NOMEM, "cuba: no memory for the state of %d neurons", n);
    }
    /* connectivity */
    if (c->pre) {
        memset(s->ptr, 0, ((size_t)n + 1) * sizeof(int64_t));
        for (int64_t k = 0; k < c->n_syn; k++) s->ptr[c->pre[k] + 1]++;
        for (int i = 0; i < n; i++) s->ptr[i + 1] += s->ptr[i];
        s->n_syn = c->n_syn;
    } else {
        /* refuse a network far too large for memory before drawing it: reserve room for
         * the expected count plus 10 standard deviations first */
        double mean = (double)n * n * c->p, want = mean + 10 * sqrt(mean) + 16;
        void *probe = want * sizeof(int32_t) < 9e18 ? spk_malloc((size_t)(want * sizeof(int32_t))) : NULL;
        if (!probe) {
            spk_cuba_free(s);
            return spk__fail(NULL, SPK_ERR_NOMEM, "cuba: no memory for about %.3g synapses (%d neurons, p = %g: %.3g GiB)", mean, n, c->p,
                             want * 4 / 1073741824.0);
        }
        spk_free(probe);
        s->n_syn = random_rows(c, NULL, NULL);
    }
    s->post = spk_malloc((size_t)(s->n_syn ? s->n_syn : 1) * sizeof(int32_t));
    if (!s->post) {
        int64_t ns = s->n_syn;
        spk_cuba_free(s);
        return spk__fail(NULL, SPK_ERR_NOMEM, "cuba: no memory for %lld synapses (%.1f MiB)", (long long)ns, (double)ns * 4 / 1048576.0);
    }
    if (c->pre) { /* fill in the given order, row by row */
        int64_t *fill = spk_malloc((size_t)n * sizeof(int64_t));
        if (!fill) {
            spk_cuba_free(s);
            return spk__fail(NULL, SPK_ERR_NOMEM, "cuba: no memory");
        }
        memcpy(fill, s->ptr, (size_t)n * sizeof(int64_t));
        for (int64_t k = 0; k < c->n_syn; k++) s->post[fill[c->pre[k]]++] = c->post[k];
        spk_free(fill);
    } else {
        random_rows(c, s->ptr, s->post);
    }
    /* initial state: v uniform in [v_reset, v_thr), currents zero, nobody refractory */
    spk_rng r = {c->seed, 2};
    for (int i = 0; i < n; i++) {
        s->v[i] = (float)(c->v_reset_mv + spk_rng_uniform(r, 0, (uint64_t)i, 0) * (c->v_thr_mv - c->v_reset_mv));
        s->last[i] = INT32_MIN / 2;
    }
    *out = s;
    return SPK_OK;
}

static spk_status record(spk_cuba *s, int nsp, int64_t t) {
    if (s->n_rec + nsp > s->cap_rec) {
        int64_t cap = s->cap_rec ? s->cap_rec : 4096;
        while (cap < s->n_rec + nsp) cap *= 2;
        int32_t *rn = spk_malloc((size_t)cap * sizeof(int32_t));
        int64_t *rt = spk_malloc((size_t)cap * sizeof(int64_t));
        if (!rn || !rt) {
            spk_free(rn);
            spk_free(rt);
            return spk__fail(&s->obj, SPK_ERR_NOMEM, "cuba: no memory to record %lld spikes", (long long)(s->n_rec + nsp));
        }
        if (s->n_rec) {
            memcpy(rn, s->rec_n, (size_t)s->n_rec * sizeof(int32_t));
            memcpy(rt, s->rec_t, (size_t)s->n_rec * sizeof(int64_t));
        }
        spk_free(s->rec_n);
        spk_free(s->rec_t);
        s->rec_n = rn;
        s->rec_t = rt;
        s->cap_rec = cap;
    }
    for (int k = 0; k < nsp; k++) {
        s->rec_n[s->n_rec + k] = s->spk_now[k];
        s->rec_t[s->n_rec + k] = t;
    }
    s->n_rec += nsp;
    return SPK_OK;
}

/* every neuron's exact update and threshold test; the flags of the neurons that fired */
static void update(spk_cuba *s, int32_t t) {
    const int n = s->n, R = s->ref_steps;
    const float am = s->am, ae = s->ae, ai = s->ai, ce = s->ce, ci = s->ci, el = s->el, vt = s->vt, vr = s->vr;
    float *restrict v = s->v, *restrict ge = s->ge, *restrict gi = s->gi;
    int32_t *restrict last = s->last;
    uint8_t *restrict fired = s->fired;
    for (int i = 0; i < n; i++) {
        const int awake = t - last[i] >= R;
        const float vn = el + (v[i] - el) * am + ge[i] * ce + gi[i] * ci;
        const float vu = awake ? vn : v[i];
        ge[i] *= ae;
        gi[i] *= ai;
        const int sp = awake & (vu > vt);
        v[i] = sp ? vr : vu;
        last[i] = sp ? t : last[i];
        fired[i] = (uint8_t)sp;
    }
}

spk_status spk_cuba_run(spk_cuba *s, double ms) {
    if (!s) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_cuba_run: network is NULL");
    if (!(ms >= 0) || ms / s->cfg.dt_ms > 2e9) return spk__fail(&s->obj, SPK_ERR_INVALID_ARG, "spk_cuba_run: duration %g ms out of range", ms);
    const int64_t steps = llround(ms / s->cfg.dt_ms);
    if (s->step + steps > INT32_MAX / 2) return spk__fail(&s->obj, SPK_ERR_INVALID_ARG, "spk_cuba_run: more than %d steps in all", INT32_MAX / 2);
    const int n = s->n, ne = s->n_exc, D = s->D;
    const float we = s->we, wi = s->wi;
    const int64_t *ptr = s->ptr;
    const int32_t *post = s->post;
    for (int64_t k = 0; k < steps; k++) {
        const int32_t t = (int32_t)s->step;
        update(s, t);
        /* the neurons that fired, found a word at a time */
        int nsp = 0;
        for (int i = 0; i < n; i += 8) {
            uint64_t w;
            memcpy(&w, s->fired + i, 8);
            if (!w) continue;
            for (int q = i; q < i + 8 && q < n; q++)
                if (s->fired[q]) s->spk_now[nsp++] = q;
        }
        /* deliver along the rows of the neurons that fired */
        float *de = D ? s->ring_e + (size_t)((t + D) % (D + 1)) * n : s->ge;
        float *di = D ? s->ring_i + (size_t)((t + D) % (D + 1)) * n : s->gi;
        for (int q = 0; q < nsp; q++) {
            const int j = s->spk_now[q];
            float *g = j < ne ? de : di;
            const float w = j < ne ? we : wi;
            for (int64_t p = ptr[j]; p < ptr[j + 1]; p++) g[post[p]] += w;
            s->sops += ptr[j + 1] - ptr[j];
        }
        if (D) { /* this step's slot: increments sent D steps ago (or now, for D = 0 above) */
            float *re = s->ring_e + (size_t)(t % (D + 1)) * n, *ri = s->ring_i + (size_t)(t % (D + 1)) * n;
            for (int i = 0; i < n; i++) {
                s->ge[i] += re[i];
                s->gi[i] += ri[i];
            }
            memset(re, 0, (size_t)n * sizeof(float));
            memset(ri, 0, (size_t)n * sizeof(float));
        }
        if (nsp && s->cfg.record) {
            spk_status st = record(s, nsp, t);
            if (st) return st;
        }
        s->spikes += nsp;
        s->step++;
    }
    return SPK_OK;
}

int64_t spk_cuba_spikes(const spk_cuba *s, const int32_t **neuron, const int64_t **step) {
    if (!s) return 0;
    if (neuron) *neuron = s->rec_n;
    if (step) *step = s->rec_t;
    return s->n_rec;
}

void spk_cuba_state(const spk_cuba *s, const float **v, const float **ge, const float **gi) {
    if (v) *v = s ? s->v : NULL;
    if (ge) *ge = s ? s->ge : NULL;
    if (gi) *gi = s ? s->gi : NULL;
}

spk_status spk_cuba_get_stats(const spk_cuba *s, spk_cuba_stats *out) {
    if (!s || !out) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_cuba_get_stats: NULL argument");
    memset(out, 0, sizeof *out);
    out->neurons = s->n;
    out->synapses = s->n_syn;
    out->steps = s->step;
    out->t_ms = (double)s->step * s->cfg.dt_ms;
    out->spikes = s->spikes;
    out->sops = s->sops;
    out->updates = (int64_t)s->n * s->step;
    out->rate_hz = s->step ? (double)s->spikes / s->n / (out->t_ms * 1e-3) : 0;
    out->cv_isi = NAN;
    if (s->cfg.record && s->n_rec) {
        double *tt = spk_malloc((size_t)s->n_rec * sizeof(double));
        if (!tt) return spk__fail((spk__obj *)&s->obj, SPK_ERR_NOMEM, "cuba: no memory for the ISI statistics");
        for (int64_t k = 0; k < s->n_rec; k++) tt[k] = (double)s->rec_t[k];
        spk_status st = spk_isi_stats(s->rec_n, tt, s->n_rec, s->n, &out->cv_isi, &out->cv_neurons);
        spk_free(tt);
        if (st) return spk__fail((spk__obj *)&s->obj, st, "%s", spk_errmsg(NULL));
    }
    return SPK_OK;
}

/* Per neuron the coefficient of variation of its inter-spike intervals (needs 3 spikes),
 * averaged over those neurons. Spikes in time order per neuron are gathered by a counting
 * sort on the neuron index (stable: the given order is kept within a neuron). */
spk_status spk_isi_stats(const int32_t *neuron, const double *t, int64_t n_spikes, int n_neurons, double *cv, int64_t *n_cv) {
    if (!cv || n_neurons < 1 || n_spikes < 0 || (n_spikes && (!neuron || !t)))
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_isi_stats: bad arguments");
    *cv = NAN;
    if (n_cv) *n_cv = 0;
    int64_t *start = spk_calloc((size_t)n_neurons + 1, sizeof(int64_t));
    double *sorted = spk_malloc((size_t)(n_spikes ? n_spikes : 1) * sizeof(double));
    if (!start || !sorted) {
        spk_free(start);
        spk_free(sorted);
        return spk__fail(NULL, SPK_ERR_NOMEM, "spk_isi_stats: no memory for %lld spikes", (long long)n_spikes);
    }
    for (int64_t k = 0; k < n_spikes; k++) {
        if (neuron[k] < 0 || neuron[k] >= n_neurons) {
            spk_free(start);
            spk_free(sorted);
            return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_isi_stats: spike %lld names neuron %d (neurons 0..%d)", (long long)k, neuron[k], n_neurons - 1);
        }
        start[neuron[k] + 1]++;
    }
    for (int i = 0; i < n_neurons; i++) start[i + 1] += start[i];
    {
        int64_t *fill = spk_malloc((size_t)n_neurons * sizeof(int64_t));
        if (!fill) {
            spk_free(start);
            spk_free(sorted);
            return spk__fail(NULL, SPK_ERR_NOMEM, "spk_isi_stats: no memory");
        }
        memcpy(fill, start, (size_t)n_neurons * sizeof(int64_t));
        for (int64_t k = 0; k < n_spikes; k++) sorted[fill[neuron[k]]++] = t[k];
        spk_free(fill);
    }
    double sum = 0;
    int64_t cnt = 0;
    for (int i = 0; i < n_neurons; i++) {
        int64_t a = start[i], b = start[i + 1];
        if (b - a < 3) continue;
        double m = 0, m2 = 0;
        for (int64_t k = a + 1; k < b; k++) m += sorted[k] - sorted[k - 1];
        m /= (double)(b - a - 1);
        for (int64_t k = a + 1; k < b; k++) {
            double d = sorted[k] - sorted[k - 1] - m;
            m2 += d * d;
        }
        double sd = sqrt(m2 / (double)(b - a - 1));
        if (m > 0) {
            sum += sd / m;
            cnt++;
        }
    }
    spk_free(start);
    spk_free(sorted);
    if (cnt) *cv = sum / (double)cnt;
    if (n_cv) *n_cv = cnt;
    return SPK_OK;
}
