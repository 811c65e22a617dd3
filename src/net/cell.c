/* cell.c — a recurrent cell run as one block: a thin population P and its all-to-all
 * recurrent dense layer R (P -> R within the step, R -> P delayed), forward and backward over
 * all T steps in one parallel region, each thread on its own batch rows.
 *
 * Why: on the step-by-step path each step opens a parallel region for the neuron, for the
 * recurrent product and for its input gradient (a [B, N] x [N, N] product, which the BLAS
 * ran at under half this CPU's rate at this size), and the second core waited between them.
 * Batch rows do not interact inside a cell, so a thread can run its rows through every step
 * with no barrier at all.
 *
 * While it has a step's rows in cache, the cell also does what would otherwise go through
 * [T, B, N] arrays: the forward keeps the spikes' nonzeros it gathers from and makes R's CSR
 * of them (which R's weight gradient and P's other readers use), and writes neither P's
 * summed input nor R's output unless they are read; the backward computes the input
 * gradients of the layer-major dense layers reading P (cell_dx) with R's, and hands P's input
 * gradient to its sources step by step, setting what it alone writes.
 *
 * Per element the same floats whatever the thread count: the neuron kernels are the thin
 * path's, their lam / thr partial sums by fixed blocks of SPK__THIN_BLOCK_ROWS rows (threads
 * take whole blocks); R's forward is the gather-add of the sparse kernels, one row at a time
 * (spk_op_dense_forward_entries: the floats of the CSR path); the input gradients are
 * spk_op_dense_dx_rows_multi (the outputs in order per element). The step-by-step path stays
 * for everything else (and as the comparison in the tests: net->no_cell). */
#include "net/net_impl.h"
#include "neuron/neuron_impl.h"

#include <omp.h>
#include <string.h>

/* Most in-edges of a cell's population (a population with more runs step by step). */
#define CELL_MAX_IN 8

/* Whether the edges around p and r are as a cell needs: r reads p alone, within the step;
 * p reads r once, delayed, and otherwise only nodes outside the pair, within the step, at
 * most CELL_MAX_IN edges in all. */
static int cell_edges_ok(const spk_net *net, int p, int r) {
    int into_r = 0, back = 0, into_p = 0;
    for (int e = 0; e < net->n_edges; e++) {
        const spk__edge *ed = &net->edges[e];
        into_p += ed->to == p;
        if (ed->to == r) {
            if (ed->from != p || ed->delayed) return 0;
            into_r++;
        }
        if (ed->to == p) {
            if (ed->from == r) {
                if (!ed->delayed) return 0;
                back++;
            } else if (ed->delayed || ed->from == p) {
                return 0;
            }
        }
    }
    return into_r == 1 && back == 1 && into_p <= CELL_MAX_IN;
}

/* The sources of p's in-edges, in edge order (the step-by-step gather's and scatter's order);
 * their count (at most CELL_MAX_IN: spk__cell_mark makes sure). */
static int cell_inputs(const spk_net *net, int p, int src[CELL_MAX_IN]) {
    int n = 0;
    for (int e = 0; e < net->n_edges && n < CELL_MAX_IN; e++)
        if (net->edges[e].to == p) src[n++] = net->edges[e].from;
    return n;
}

void spk__cell_mark(spk_net *net) {
    for (int v = 0; v < net->n_nodes; v++) net->nodes[v].cell_rec = -1, net->nodes[v].n_cell_dx = 0;
    if (net->reference || net->no_cell) return;
    for (int g = 0; g < net->n_groups; g++) {
        const int a = net->scc_start[g], b = net->scc_start[g + 1];
        if (!net->group_recurrent[g] || b - a != 2) continue;
        int p = net->order[a], r = net->order[a + 1];
        if (net->nodes[p].kind != SPK_NODE_NEURON) p = net->order[a + 1], r = net->order[a];
        spk__node *P = &net->nodes[p];
        const spk__node *R = &net->nodes[r];
        if (P->kind != SPK_NODE_NEURON || !P->thin || P->recompute || P->in_once || P->in_alias || R->kind != SPK_NODE_DENSE ||
            R->d_in != P->out_numel || R->d_out != P->out_numel || !cell_edges_ok(net, p, r))
            continue;
        P->cell_rec = r;
        /* P's other readers that are layer-major dense layers reading it in place: their input
         * gradient is computed by P's backward, a step's rows at a time, before R's is added
         * (instead of a product over all T*B rows written to P's output gradient and read back) */
        P->n_cell_dx = 0;
        for (int e = 0; e < net->n_edges; e++) {
            spk__node *D = &net->nodes[net->edges[e].to];
            if (net->edges[e].from != p || net->edges[e].to == r || P->n_cell_dx == 4) continue;
            if (D->kind == SPK_NODE_DENSE && !D->recurrent && D->in_alias && D->need_din && !D->dx_into && !D->by_src &&
                !D->static_in && D->d_in == P->out_numel) {
                D->dx_into = 1;
                P->cell_dx[P->n_cell_dx++] = net->edges[e].to;
            }
        }
    }
}

/* The row blocks [blk0, blk1) and rows [b0, b1) of thread `tid` of `nth`: whole blocks of
 * SPK__THIN_BLOCK_ROWS rows. */
static void cell_rows(int B, int tid, int nth, int *blk0, int *blk1, int *b0, int *b1) {
    const int nblk = spk__thin_blocks(B);
    *blk0 = (int)((int64_t)tid * nblk / nth);
    *blk1 = (int)((int64_t)(tid + 1) * nblk / nth);
    *b0 = *blk0 * SPK__THIN_BLOCK_ROWS;
    *b1 = *blk1 * SPK__THIN_BLOCK_ROWS < B ? *blk1 * SPK__THIN_BLOCK_ROWS : B;
}

/* Threads for a cell of B rows of N neurons over T steps: one per block of rows at most, and
 * one for small work (a parallel region costs more than it saves there). */
static int cell_threads(int T, int B, int N) {
    const int nblk = spk__thin_blocks(B), max = omp_get_max_threads();
    if ((size_t)T * B * N < ((size_t)1 << 16)) return 1;
    return nblk < max ? nblk : max;
}

spk_status spk__cell_forward(spk_net *net, int p) {
    spk__node *P = &net->nodes[p], *R = &net->nodes[P->cell_rec];
    const int T = net->T, B = net->B, N = P->out_numel;
    const size_t BN = (size_t)B * N;
    const float *Wt = spk__net_wt(net, R), *bias = spk__b_of(net, R);
    if (!Wt) return spk__fail(&net->obj, SPK_ERR_NOMEM, "forward: node '%s': no memory for its transposed weights", R->name);
    /* P's inputs (R among them, at r_pos) */
    int ext[CELL_MAX_IN], r_pos = -1;
    const int n_ext = cell_inputs(net, p, ext);
    for (int k = 0; k < n_ext; k++)
        if (ext[k] == P->cell_rec) r_pos = k;
    /* What backward and the signals need is written out; the rest stays in each thread's
     * scratch: P's summed input only when its backward reads it (a hard reset of the whole
     * state with the reset's gradient kept), R's output only when another node reads it
     * (else written when asked for: fill_once, from R's W^T and the bias kept here) */
    const int keep_x = P->nr->cfg.reset == SPK_RESET_HARD_ALL && !P->nr->cfg.detach_reset;
    int lazy_r = 1;
    for (int e = 0; e < net->n_edges; e++)
        if (net->edges[e].from == P->cell_rec && net->edges[e].to != p) lazy_r = 0;
    if (lazy_r && bias) {
        if (!R->par_snap && !(R->par_snap = spk_malloc((size_t)N * sizeof(float))))
            return spk__fail(&net->obj, SPK_ERR_NOMEM, "forward: node '%s': no memory for its bias", R->name);
        memcpy(R->par_snap, bias, (size_t)N * sizeof(float));
    }
    /* The spikes' entries, which the recurrent product gathers from anyway, are kept for R's
     * CSR of its input (its weight gradient, and the population's other readers, use it:
     * exec.c, use_sparse): per thread, room for its share of the last forward's entries and a
     * half (the first forward keeps none); a thread out of room keeps computing, and this
     * forward makes no CSR. The row counts after the threads' parts. */
    const int nth = cell_threads(T, B, N);
    const size_t M = (size_t)T * B;
    const size_t per = P->cell_stage_per ? P->cell_stage_per / nth + P->cell_stage_per / (2 * nth) + (size_t)N : 0;
    const size_t want = per * (size_t)nth * (sizeof(int32_t) + sizeof(float)) + M * sizeof(int32_t);
    if (P->cell_stage_bytes < want) {
        spk_free(P->cell_stage);
        P->cell_stage_bytes = 0;
        if ((P->cell_stage = spk_malloc(want))) P->cell_stage_bytes = want;
    }
    int32_t *st_idx = P->cell_stage_bytes ? (int32_t *)P->cell_stage : NULL;
    float *st_val = st_idx ? (float *)(st_idx + per * nth) : NULL;
    int32_t *st_cnt = st_idx ? (int32_t *)(st_val + per * nth) : NULL;
    size_t total = 0; /* entries seen, all threads */
    int nomem = 0, full = 0, team = 1;
    double t_nr = 0, t_all = net->profiling ? omp_get_wtime() : 0;
#pragma omp parallel num_threads(nth) reduction(| : nomem, full) reduction(+ : total)
    {
        int blk0, blk1, b0, b1;
        cell_rows(B, omp_get_thread_num(), omp_get_num_threads(), &blk0, &blk1, &b0, &b1);
        full = !st_idx || !per; /* (no room at all: none kept) */
        if (omp_get_thread_num() == 0) team = omp_get_num_threads();
        const int rows = b1 - b0;
        const size_t o = (size_t)b0 * N, cnt = (size_t)rows * N;
        /* spikes of a row (the gather's lists), a step's input, two steps of R's output */
        int32_t *idx = rows > 0 ? spk_malloc((size_t)N * sizeof(int32_t)) : NULL;
        float *val = rows > 0 ? spk_malloc((size_t)N * sizeof(float)) : NULL;
        float *buf = rows > 0 ? spk_malloc(3 * cnt * sizeof(float)) : NULL;
        const size_t th = (size_t)omp_get_thread_num();
        size_t pos = 0, seen = 0; /* entries kept by this thread, and seen */
        if (rows > 0 && (!idx || !val || !buf)) nomem = 1;
        const int timing = net->profiling && omp_get_thread_num() == 0;
        for (int t = 0; t < T && rows > 0 && !nomem; t++) {
            const double c0 = timing ? omp_get_wtime() : 0;
            float *x = keep_x ? P->in + t * BN + o : buf;
            float *r_out = lazy_r ? buf + (1 + (t & 1)) * cnt : R->out + t * BN + o;
            const float *r_prev = !t ? R->init + o : lazy_r ? buf + (1 + ((t - 1) & 1)) * cnt : R->out + (t - 1) * BN + o;
            /* the inputs summed from zero in edge order, as the step-by-step gather sums them
             * (0 + a: a -0 becomes +0 there too); two of them in one pass */
            const float *s0 = !n_ext ? NULL : 0 == r_pos ? r_prev : net->nodes[ext[0]].out + t * BN + o;
            const float *s1 = n_ext < 2 ? NULL : 1 == r_pos ? r_prev : net->nodes[ext[1]].out + t * BN + o;
            if (s1)
                for (size_t j = 0; j < cnt; j++) x[j] = (0.0f + s0[j]) + s1[j];
            else if (s0)
                for (size_t j = 0; j < cnt; j++) x[j] = 0.0f + s0[j];
            for (int k = 2; k < n_ext; k++) {
                const float *src = k == r_pos ? r_prev : net->nodes[ext[k]].out + t * BN + o;
                for (size_t j = 0; j < cnt; j++) x[j] += src[j];
            }
            spk__neuron_thin_step_rows(P->nr, rows, x, spk__thin_prev_v(P, t, BN) + o, spk__thin_prev_s(P, t, BN) + o,
                                       P->out + t * BN + o, P->mem + t * BN + o);
            if (timing) t_nr += omp_get_wtime() - c0;
            if (!R->in_alias) memcpy(R->in + t * BN + o, P->out + t * BN + o, cnt * sizeof(float));
            for (int b = 0; b < rows; b++) {
                const float *sr = P->out + t * BN + o + (size_t)b * N;
                int32_t *ki = idx;
                float *kv = val;
                if (!full && pos + (size_t)N <= per) ki = st_idx + th * per + pos, kv = st_val + th * per + pos;
                else full = 1;
                const int32_t n = spk_op_compress_row(sr, N, ki, kv);
                if (!full) pos += (size_t)n, st_cnt[(size_t)t * B + b0 + b] = n;
                spk_op_dense_forward_entries(r_out + (size_t)b * N, ki, kv, n, Wt, bias, N);
                seen += (size_t)n;
            }
        }
        total = seen;
        spk_free(idx);
        spk_free(val);
        spk_free(buf);
    }
    R->out_stale = lazy_r;
    P->cell_stage_per = total; /* (all the entries, for the room next time) */
    if (!full && !nomem && spk_op_csr_from_counts(&R->csr, st_cnt, (int)M, N) == 0) {
        /* each forward thread's entries, step after step, to their rows' places */
#pragma omp parallel for schedule(static) num_threads(nth)
        for (int th = 0; th < team; th++) {
            int blk0, blk1, b0, b1;
            cell_rows(B, th, team, &blk0, &blk1, &b0, &b1);
            size_t pos = 0;
            for (int t = 0; t < T && b1 > b0; t++) {
                const size_t m0 = (size_t)t * B + b0, len = (size_t)(R->csr.ptr[m0 + (b1 - b0)] - R->csr.ptr[m0]);
                memcpy(R->csr.idx + R->csr.ptr[m0], st_idx + (size_t)th * per + pos, len * sizeof(int32_t));
                memcpy(R->csr.val + R->csr.ptr[m0], st_val + (size_t)th * per + pos, len * sizeof(float));
                pos += len;
            }
        }
        R->csr_ok = 1;
        R->csr_x = R->in;
        R->csr_at = &R->csr;
    }
    if (nomem) return spk__fail(&net->obj, SPK_ERR_NOMEM, "forward: node '%s': no memory for a row's spikes", P->name);
    if (net->profiling) { /* thread 0's share of neuron work, applied to the whole */
        const double all = omp_get_wtime() - t_all;
        const double f = all > 0 && t_nr < all ? t_nr / all : 1.0;
        P->prof_fwd += all * f;
        R->prof_fwd += all * (1.0 - f);
    }
    return SPK_OK;
}

spk_status spk__cell_backward(spk_net *net, int p) {
    spk__node *P = &net->nodes[p], *R = &net->nodes[P->cell_rec];
    const int T = net->T, B = net->B, N = P->out_numel, k = net->tbptt_k;
    const size_t BN = (size_t)B * N;
    const int nblk = spk__thin_blocks(B), pgrad = spk__learns_lam_thr(P);
    const float *W = spk__W_of(net, R);
    float *part = spk__neuron_thin_bw_partials(P->nr, B, T, pgrad);
    if (!part) return spk__fail(&net->obj, SPK_ERR_NOMEM, "backward: node '%s': %s", P->name, spk_errmsg(P->nr));
    /* one step of P's input gradient ([B, N], each thread its rows): handed to the sources
     * while in cache, then cleared for the next step (P's own din is not written) */
    float *dxs = spk_calloc(BN, sizeof(float));
    if (!dxs) return spk__fail(&net->obj, SPK_ERR_NOMEM, "backward: node '%s': no memory for a step's input gradient", P->name);
    /* the sources outside the cell that take P's input gradient (the step-by-step scatter's
     * edges, in its order) */
    int in[CELL_MAX_IN], ext_set[CELL_MAX_IN], n_ext = 0;
    float *ext[CELL_MAX_IN];
    const int n_in = cell_inputs(net, p, in);
    for (int q = 0; q < n_in; q++) {
        spk__node *src = &net->nodes[in[q]];
        if (in[q] == P->cell_rec || !src->need_dout) continue;
        /* (the first to write its output gradient, all of it: set, not added to what
         * zero_grad left pending; exec.c, first_setter) */
        ext_set[n_ext] = src->dout_setter == p && src->dout_pending;
        ext[n_ext++] = src->dout;
    }
    const int r_set = R->dout_setter == p && R->dout_pending;
    /* P's own output gradient: set here when no one else writes it (first_setter) */
    const int p_set = P->dout_setter == p && P->dout_pending;
    const size_t step_part = pgrad ? (size_t)nblk * 2 * N : 0;
    const int nth = cell_threads(T, B, N);
    double t_nr = 0, t_all = net->profiling ? omp_get_wtime() : 0;
#pragma omp parallel num_threads(nth)
    {
        int blk0, blk1, b0, b1;
        cell_rows(B, omp_get_thread_num(), omp_get_num_threads(), &blk0, &blk1, &b0, &b1);
        const int rows = b1 - b0;
        const size_t o = (size_t)b0 * N, cnt = (size_t)rows * N;
        const int timing = net->profiling && omp_get_thread_num() == 0;
        if (r_set && rows > 0) memset(R->dout + (T - 1) * BN + o, 0, cnt * sizeof(float)); /* (read first, written by no one) */
        for (int t = T - 1; t >= 0 && rows > 0; t--) {
            /* P's spike gradient at t: its own (its other readers', seeds), the input gradients
             * of the dense layers reading it (cell_dx), and R's, dout[t] W (R's output gradient
             * at t came from P's input at t + 1), added in that order */
            spk_dx_src dsrc[5];
            for (int q = 0; q < P->n_cell_dx; q++) {
                const spk__node *D = &net->nodes[P->cell_dx[q]];
                dsrc[q] = (spk_dx_src){D->dout + ((size_t)t * B + b0) * D->d_out, (size_t)D->d_out, spk__W_of(net, D), D->d_out};
            }
            dsrc[P->n_cell_dx] = (spk_dx_src){R->dout + t * BN + o, (size_t)N, W, N};
            if (t > 0) { /* the next step's membranes and spikes (and own gradient) from memory meanwhile */
                const char *pm = (const char *)(P->mem + (t - 1) * BN + o), *ps = (const char *)(P->out + (t - 1) * BN + o);
                const char *pd = (const char *)(P->dout + (t - 1) * BN + o);
                for (size_t q = 0; q < cnt * sizeof(float); q += 64) {
                    __builtin_prefetch(pm + q, 0, 3);
                    __builtin_prefetch(ps + q, 0, 3);
                    if (!p_set) __builtin_prefetch(pd + q, 0, 3);
                }
            }
            spk_op_dense_dx_rows_multi(P->dout + t * BN + o, N, dsrc, P->n_cell_dx + 1, rows, N, !p_set);
            const double c0 = timing ? omp_get_wtime() : 0;
            const spk__thin_bw a = {.B = B, .nt = 1, .t0 = t, .T = T, .tbptt_k = k,
                                    .v_init = spk__thin_prev_v(P, t, BN), .s_init = spk__thin_prev_s(P, t, BN),
                                    .mem = P->mem + t * BN, .s = P->out + t * BN, .x = P->in + t * BN, .dx = dxs,
                                    .x_step = BN, .dstate = P->dstate, .ds = P->dout + t * BN,
                                    .dmem = P->dmem ? P->dmem + t * BN : NULL, .param_grads = pgrad};
            spk__neuron_thin_bw_blocks(P->nr, &a, part + (size_t)t * step_part, blk0, blk1);
            if (timing) t_nr += omp_get_wtime() - c0;
            /* P's input gradient to the sources outside at t, and to R's output at t - 1 (its
             * init at t = 0) except across a truncation window's boundary */
            float *src = dxs + o;
            for (int q = 0; q < n_ext; q++) {
                float *dst = ext[q] + t * BN + o;
                if (ext_set[q]) memcpy(dst, src, cnt * sizeof(float));
                else
                    for (size_t j = 0; j < cnt; j++) dst[j] += src[j];
            }
            const int cut = t > 0 && k > 0 && t % k == 0;
            float *dst = t > 0 ? R->dout + (t - 1) * BN + o : R->dinit ? R->dinit + o : NULL;
            if (t > 0 && r_set) {
                if (cut) memset(dst, 0, cnt * sizeof(float));
                else memcpy(dst, src, cnt * sizeof(float));
            } else if (dst && !cut) {
                for (size_t j = 0; j < cnt; j++) dst[j] += src[j];
            }
            memset(src, 0, cnt * sizeof(float));
        }
    }
    spk_free(dxs);
    for (int e = 0; e < net->n_edges; e++) /* (what was set is no longer pending) */
        if (net->edges[e].to == p && net->nodes[net->edges[e].from].dout_setter == p) net->nodes[net->edges[e].from].dout_pending = 0;
    if (p_set) P->dout_pending = 0;
    if (pgrad) spk__neuron_thin_bw_reduce(P->nr, B, T);
    if (net->profiling) {
        const double all = omp_get_wtime() - t_all;
        const double f = all > 0 && t_nr < all ? t_nr / all : 1.0;
        P->prof_bwd += all * f;
        R->prof_bwd += all * (1.0 - f);
    }
    return SPK_OK;
}
