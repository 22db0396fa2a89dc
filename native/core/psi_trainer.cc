// ψ training: forward and backward on sgemm, Adam, clipping. One epoch = one pass over the
// shuffled training rows in batches of opt.batch (the last batch may be smaller).
#include "psi_trainer.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>

#include "blas.h"
#include "parallel.h"
#include "progress.h"
#include "rng.h"
#include "row_ops.h"

namespace lemur {

PsiWeights init_psi(int dim, const TrainOptions& opt, uint64_t seed, bool elm) {
  Rng rng(seed);
  PsiWeights w;
  w.dim = dim;
  w.hidden = opt.hidden;
  for (int l = 0; l < opt.num_layers; ++l) {
    PsiLayer L;
    L.in = l == 0 ? dim : opt.hidden;
    L.out = opt.hidden;
    const float bound = 1.0f / std::sqrt(static_cast<float>(L.in));
    L.weight.resize(static_cast<size_t>(L.out) * L.in);
    for (float& x : L.weight) x = rng.uniform(-bound, bound);
    L.bias.resize(L.out);
    for (float& x : L.bias) x = rng.uniform(-bound, bound);
    if (!elm) {
      L.gamma.assign(L.out, 1.0f);
      L.beta.assign(L.out, 0.0f);
    }
    L.gelu_before_norm = elm;
    w.layers.push_back(std::move(L));
  }
  return w;
}

namespace {

// A parameter tensor with its gradient and Adam moments.
struct Param {
  float* value;
  size_t size;
  std::vector<float> grad, m, v;
  Param(float* p, size_t n) : value(p), size(n), grad(n, 0.f), m(n, 0.f), v(n, 0.f) {}
};

struct Model {
  PsiWeights psi;
  std::vector<float> out_w;  // m x hidden, bias-free output layer
  std::vector<Param> params;

  void bind() {
    params.clear();
    for (PsiLayer& L : psi.layers) {
      params.emplace_back(L.weight.data(), L.weight.size());
      params.emplace_back(L.bias.data(), L.bias.size());
      params.emplace_back(L.gamma.data(), L.gamma.size());
      params.emplace_back(L.beta.data(), L.beta.size());
    }
    params.emplace_back(out_w.data(), out_w.size());
  }
};

// Buffers reused across batches.
struct Workspace {
  std::vector<float> Z, O, dZ, dPre, dIn, dN, colsum;
  std::vector<PsiLayerCache> cache;
  std::vector<double> partial;
};

// Chunks for deterministic parallel reductions: fixed boundaries, partial sums combined in
// chunk order, so a sum does not depend on how many threads computed it.
constexpr int64_t kReduceChunk = 1 << 16;

// One forward and backward pass over a batch: fills every Param's grad (not clipped) and
// returns the batch's mean squared error.
double forward_backward(Model& M, const float* xb, const float* tb, int64_t b, int64_t m, int threads, Workspace* ws) {
  const int h = M.psi.hidden;
  ws->Z.resize(static_cast<size_t>(b) * h);
  ws->O.resize(static_cast<size_t>(b) * m);
  ws->dZ.resize(static_cast<size_t>(b) * h);
  ws->dPre.resize(static_cast<size_t>(b) * h);
  ws->dIn.resize(static_cast<size_t>(b) * h);
  ws->dN.resize(static_cast<size_t>(b) * h);
  float* Z = ws->Z.data();
  float* O = ws->O.data();
  std::vector<PsiLayerCache>& cache = ws->cache;
  psi_forward(M.psi, xb, b, Z, &cache, threads);
  sgemm_rm(false, true, static_cast<int>(b), static_cast<int>(m), h, 1.0f, Z, h, M.out_w.data(), h, 0.0f, O,
           static_cast<int>(m));
  const float scale = 2.0f / static_cast<float>(b * m);
  // residuals row by row: rows are the fixed chunks of this deterministic reduction
  ws->partial.assign(b, 0.0);
  parallel_for(b, threads, 8, [&](int64_t r0, int64_t r1, int) {
    for (int64_t i = r0; i < r1; ++i) ws->partial[i] = residual_row(O + i * m, tb + i * m, m, scale);
  });
  double sq = 0;
  for (double x : ws->partial) sq += x;
  const double loss = sq / static_cast<double>(b * m);
  // backward: output layer
  Param& Pout = M.params.back();
  sgemm_rm(true, false, static_cast<int>(m), h, static_cast<int>(b), 1.0f, O, static_cast<int>(m), Z, h, 0.0f,
           Pout.grad.data(), h);
  sgemm_rm(false, false, static_cast<int>(b), h, static_cast<int>(m), 1.0f, O, static_cast<int>(m), M.out_w.data(), h,
           0.0f, ws->dZ.data(), h);
  // backward: ψ layers, last to first
  for (int l = static_cast<int>(M.psi.layers.size()) - 1; l >= 0; --l) {
    PsiLayer& L = M.psi.layers[l];
    PsiLayerCache& c = cache[l];
    Param& Pw = M.params[4 * l];
    Param& Pb = M.params[4 * l + 1];
    Param& Pg = M.params[4 * l + 2];
    Param& Pbeta = M.params[4 * l + 3];
    float* dN = ws->dN.data();
    float* dP = ws->dPre.data();
    const float* dA = ws->dZ.data();
    // per row: through GELU (Φ cached by the forward pass) and LayerNorm
    parallel_for(b, threads, 16, [&](int64_t r0, int64_t r1, int) {
      for (int64_t i = r0; i < r1; ++i) {
        gelu_layernorm_backward_row(dA + i * h, c.xhat.data() + i * h, c.normed.data() + i * h, c.cdf.data() + i * h,
                                    L.gamma.data(), c.rstd[i], h, dN + i * h, dP + i * h);
      }
    });
    // gamma, beta and bias gradients: column sums over rows, in fixed blocks of rows whose
    // partial sums are added in block order (deterministic, and row-major friendly)
    constexpr int64_t kRowBlock = 64;
    const int64_t nblocks = (b + kRowBlock - 1) / kRowBlock;
    ws->colsum.assign(static_cast<size_t>(nblocks) * 3 * h, 0.0f);
    float* cs = ws->colsum.data();
    parallel_for(nblocks, threads, 1, [&](int64_t k0, int64_t k1, int) {
      for (int64_t k = k0; k < k1; ++k) {
        float* g = cs + k * 3 * h;
        float* be = g + h;
        float* bi = be + h;
        for (int64_t i = k * kRowBlock; i < std::min(b, (k + 1) * kRowBlock); ++i) {
          const float* dn = dN + i * h;
          const float* xh = c.xhat.data() + i * h;
          const float* dp = dP + i * h;
          for (int j = 0; j < h; ++j) {
            g[j] += dn[j] * xh[j];
            be[j] += dn[j];
            bi[j] += dp[j];
          }
        }
      }
    });
    std::fill(Pg.grad.begin(), Pg.grad.end(), 0.f);
    std::fill(Pbeta.grad.begin(), Pbeta.grad.end(), 0.f);
    std::fill(Pb.grad.begin(), Pb.grad.end(), 0.f);
    for (int64_t k = 0; k < nblocks; ++k) {
      const float* g = cs + k * 3 * h;
      for (int j = 0; j < h; ++j) {
        Pg.grad[j] += g[j];
        Pbeta.grad[j] += g[h + j];
        Pb.grad[j] += g[2 * h + j];
      }
    }
    const float* in = l == 0 ? xb : cache[l - 1].act.data();
    sgemm_rm(true, false, L.out, L.in, static_cast<int>(b), 1.0f, dP, h, in, L.in, 0.0f, Pw.grad.data(), L.in);
    if (l > 0) {
      sgemm_rm(false, false, static_cast<int>(b), L.in, L.out, 1.0f, dP, h, L.weight.data(), L.in, 0.0f,
               ws->dIn.data(), L.in);
      std::swap(ws->dIn, ws->dZ);
    }
  }
  return loss;
}

// Global-norm clipping (torch.nn.utils.clip_grad_norm_) then one Adam step, chunk-parallel.
void clip_and_adam(Model& M, const TrainOptions& opt, int64_t step, std::vector<double>* partial) {
  double sq = 0;
  for (const Param& p : M.params) {
    const int64_t n = static_cast<int64_t>(p.size);
    const int64_t chunks = (n + kReduceChunk - 1) / kReduceChunk;
    partial->assign(chunks, 0.0);
    parallel_for(chunks, opt.threads, 1, [&](int64_t c0, int64_t c1, int) {
      for (int64_t c = c0; c < c1; ++c) {
        (*partial)[c] = sum_squares(p.grad.data() + c * kReduceChunk, std::min(kReduceChunk, n - c * kReduceChunk));
      }
    });
    for (double x : *partial) sq += x;
  }
  const double norm = std::sqrt(sq);
  const float clip_scale = norm > opt.clip ? static_cast<float>(opt.clip / (norm + 1e-6)) : 1.0f;
  const float bc1 = 1.0f - std::pow(opt.beta1, static_cast<float>(step));
  const float bc2 = 1.0f - std::pow(opt.beta2, static_cast<float>(step));
  const float step_size = opt.lr / bc1;
  const float inv_bc2_sqrt = 1.0f / std::sqrt(bc2);
  for (Param& p : M.params) {
    parallel_for(static_cast<int64_t>(p.size), opt.threads, kReduceChunk, [&](int64_t i0, int64_t i1, int) {
      adam_update(p.value + i0, p.grad.data() + i0, p.m.data() + i0, p.v.data() + i0, i1 - i0, clip_scale, opt.beta1,
                  opt.beta2, step_size, inv_bc2_sqrt, opt.adam_eps);
    });
  }
}

// Mean squared error of the batch, forward only (validation).
double batch_loss(const Model& M, const float* X, const float* T, int64_t b, int64_t m, int threads,
                  std::vector<float>* Z, std::vector<float>* O) {
  const int h = M.psi.hidden;
  Z->resize(static_cast<size_t>(b) * h);
  O->resize(static_cast<size_t>(b) * m);
  psi_forward(M.psi, X, b, Z->data(), nullptr, threads);
  sgemm_rm(false, true, static_cast<int>(b), static_cast<int>(m), h, 1.0f, Z->data(), h, M.out_w.data(), h, 0.0f,
           O->data(), static_cast<int>(m));
  double s = 0;
  for (int64_t i = 0; i < b * m; ++i) {
    const double d = (*O)[i] - T[i];
    s += d * d;
  }
  return s / static_cast<double>(b * m);
}

}  // namespace

Status train_psi(const float* X, int64_t n, int dim, const float* Y, int64_t m, const TrainOptions& opt,
                 TrainResult* out, const EpochCallback& on_epoch, const BatchCallback& on_batch) {
  const bool elm = opt.epochs == 0;
  Model M;
  M.psi = init_psi(dim, opt, opt.seed, elm);
  const int h = opt.hidden;
  if (elm) {
    out->psi = std::move(M.psi);
    out->best_epoch = 0;
    return Status::Ok();
  }
  {
    Rng rng(opt.seed ^ 0x9e3779b97f4a7c15ULL);
    const float bound = 1.0f / std::sqrt(static_cast<float>(h));
    M.out_w.resize(static_cast<size_t>(m) * h);
    for (float& x : M.out_w) x = rng.uniform(-bound, bound);
  }
  M.bind();

  // Row split: a seeded permutation; the first n_val rows validate.
  Rng rng(opt.seed + 1);
  std::vector<int64_t> rows(n);
  for (int64_t i = 0; i < n; ++i) rows[i] = i;
  rng.shuffle(rows);
  const int64_t n_val = static_cast<int64_t>(opt.val_fraction * static_cast<double>(n));
  std::vector<int64_t> val(rows.begin(), rows.begin() + n_val);
  std::vector<int64_t> train(rows.begin() + n_val, rows.end());
  if (train.empty()) return Status::Error(StatusCode::kInvalidArgument, "no training rows left after the validation split");

  const int B = opt.batch;
  const int64_t batches = (static_cast<int64_t>(train.size()) + B - 1) / B;
  out->batches = batches;
  ProgressGate gate;
  std::vector<float> xb(static_cast<size_t>(B) * dim), tb(static_cast<size_t>(B) * m);
  Workspace ws;
  PsiWeights best;
  double best_val = std::numeric_limits<double>::infinity();
  int64_t step = 0;

  auto gather = [&](const std::vector<int64_t>& idx, int64_t at, int64_t b) {
    for (int64_t i = 0; i < b; ++i) {
      const int64_t r = idx[at + i];
      std::memcpy(xb.data() + i * dim, X + r * dim, sizeof(float) * dim);
      std::memcpy(tb.data() + i * m, Y + r * m, sizeof(float) * m);
    }
  };

  for (int epoch = 1; epoch <= opt.epochs; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    rng.shuffle(train);
    double loss_sum = 0;
    int64_t loss_rows = 0;
    for (int64_t at = 0; at < static_cast<int64_t>(train.size()); at += B) {
      const int64_t b = std::min<int64_t>(B, static_cast<int64_t>(train.size()) - at);
      gather(train, at, b);
      const double loss = forward_backward(M, xb.data(), tb.data(), b, m, opt.threads, &ws);
      if (!std::isfinite(loss)) {
        return Status::Error(StatusCode::kInvalidInput, "training diverged: loss is " + std::to_string(loss) +
                                                            " at epoch " + std::to_string(epoch) + ", batch " +
                                                            std::to_string(at / B) + "; no model was produced");
      }
      loss_sum += loss * static_cast<double>(b);
      loss_rows += b;
      ++step;
      clip_and_adam(M, opt, step, &ws.partial);
      const int64_t batch = at / B + 1;
      // the running mean is the same expression as the epoch's train_loss, so the last batch's
      // loss equals it bit for bit
      if (on_batch && (batch == batches || gate.due())) {
        on_batch(BatchStats{epoch, opt.epochs, batch, batches, loss_sum / static_cast<double>(loss_rows)});
      }
    }
    EpochStats st{epoch, loss_sum / static_cast<double>(loss_rows), std::numeric_limits<double>::quiet_NaN(), 0};
    if (n_val > 0) {
      double vs = 0;
      for (int64_t at = 0; at < n_val; at += B) {
        const int64_t b = std::min<int64_t>(B, n_val - at);
        gather(val, at, b);
        vs += batch_loss(M, xb.data(), tb.data(), b, m, opt.threads, &ws.Z, &ws.O) * static_cast<double>(b);
      }
      st.val_loss = vs / static_cast<double>(n_val);
      if (!std::isfinite(st.val_loss)) {
        return Status::Error(StatusCode::kInvalidInput, "training diverged: validation loss is not finite at epoch " +
                                                            std::to_string(epoch) + "; no model was produced");
      }
      if (st.val_loss < best_val) {
        best_val = st.val_loss;
        best = M.psi;
        out->best_epoch = epoch;
      }
    } else {
      out->best_epoch = epoch;
    }
    st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    out->epochs.push_back(st);
    if (on_epoch) on_epoch(st);
  }
  out->psi = n_val > 0 ? std::move(best) : std::move(M.psi);
  return Status::Ok();
}

Status psi_gradients(const PsiWeights& psi, const std::vector<float>& out_w, const float* X, const float* T, int64_t b,
                     int64_t m, double* loss, std::vector<std::vector<float>>* grads) {
  if (static_cast<int64_t>(out_w.size()) != m * psi.hidden) {
    return Status::Error(StatusCode::kInvalidArgument, "output layer must be m x hidden");
  }
  Model M;
  M.psi = psi;
  M.out_w = out_w;
  M.bind();
  Workspace ws;
  *loss = forward_backward(M, X, T, b, m, 1, &ws);
  grads->clear();
  for (const Param& p : M.params) grads->push_back(p.grad);
  return Status::Ok();
}

}  // namespace lemur
