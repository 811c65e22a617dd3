#!/usr/bin/python3
"""make_corpus.py SPK — write the seed corpus of every harness into fuzz/corpus/<name>/.

Valid inputs of each format plus a few edge cases (refusals the loaders must handle). .npy
files come from NumPy's own np.save, HDF5 files from h5py, IDX files are packed here (the
format is four header words), experiments are the examples plus hand-written variations,
model files are trained by the spk binary given (a few tiny runs) and quantized by it. Deterministic:
running it again writes the same files (except the trained models, which are reproducible
from their seeds). Crash reproducers found by fuzzing live beside the seeds as
regress-*.* files and are never touched here. Run: /usr/bin/python3 fuzz/make_corpus.py build/spk
"""
import gzip, io, os, shutil, struct, subprocess, sys, tempfile
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CORPUS = os.path.join(HERE, "corpus")


def out(harness, name, data):
    d = os.path.join(CORPUS, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def npy_bytes(a, version=None):
    b = io.BytesIO()
    if version is None:
        np.save(b, a)
    else:
        np.lib.format.write_array(b, a, version=version)
    return b.getvalue()


def npy_seeds():
    r = np.random.default_rng(1)
    out("fuzz_npy", "f4_2x3.npy", npy_bytes(r.random((2, 3), dtype=np.float32)))
    out("fuzz_npy", "f4_scalar.npy", npy_bytes(np.float32(1.5)))
    out("fuzz_npy", "f4_empty_0x3.npy", npy_bytes(np.zeros((0, 3), np.float32)))
    out("fuzz_npy", "f4_4d.npy", npy_bytes(r.random((2, 1, 2, 3), dtype=np.float32)))
    for t in ["f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8"]:
        out("fuzz_npy", f"{t}_5.npy", npy_bytes(np.arange(-2, 3).astype(t) if t[0] != "u" else np.arange(5).astype(t)))
    out("fuzz_npy", "b1_4.npy", npy_bytes(np.array([True, False, True, True])))
    out("fuzz_npy", "v2_f4.npy", npy_bytes(np.arange(6, dtype=np.float32).reshape(3, 2), version=(2, 0)))
    out("fuzz_npy", "v3_f4.npy", npy_bytes(np.arange(6, dtype=np.float32).reshape(3, 2), version=(3, 0)))
    # refusals: Fortran order, big-endian, float16, truncated, trailing bytes, bad magic
    out("fuzz_npy", "bad_fortran.npy", npy_bytes(np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3))))
    out("fuzz_npy", "bad_bigendian.npy", npy_bytes(np.arange(3, dtype=">f4")))
    out("fuzz_npy", "bad_f2.npy", npy_bytes(np.arange(3, dtype=np.float16)))
    good = npy_bytes(np.arange(8, dtype=np.float32))
    out("fuzz_npy", "bad_truncated.npy", good[:-5])
    out("fuzz_npy", "bad_trailing.npy", good + b"\0\0\0\0")
    out("fuzz_npy", "bad_magic.npy", b"\x93NUMPX" + good[6:])


def idx_input(images, labels, max_train=0, gz=False):
    """the harness's input: byte max_train, u32 length of the image file, images, labels"""
    if gz:
        images = gzip.compress(images, mtime=0)
        labels = gzip.compress(labels, mtime=0)
    return bytes([max_train]) + struct.pack("<I", len(images)) + images + labels


def idx_seeds():
    n = 2
    pix = bytes((i * 37) % 256 for i in range(n * 784))
    images = struct.pack(">IIII", 0x0803, n, 28, 28) + pix
    labels = struct.pack(">II", 0x0801, n) + bytes([3, 9])
    out("fuzz_idx", "plain_2.bin", idx_input(images, labels))
    out("fuzz_idx", "gzip_2.bin", idx_input(images, labels, gz=True))
    out("fuzz_idx", "max1.bin", idx_input(images, labels, max_train=1))
    out("fuzz_idx", "bad_label10.bin", idx_input(images, struct.pack(">II", 0x0801, n) + bytes([3, 10])))
    out("fuzz_idx", "bad_27x28.bin", idx_input(struct.pack(">IIII", 0x0803, n, 27, 28) + pix, labels))
    out("fuzz_idx", "bad_count.bin", idx_input(images, struct.pack(">II", 0x0801, 3) + bytes([3, 9, 1])))
    out("fuzz_idx", "bad_truncated.bin", idx_input(images[:-100], labels))
    out("fuzz_idx", "bad_trailing.bin", idx_input(images + b"\0", labels))
    out("fuzz_idx", "bad_type.bin", idx_input(struct.pack(">IIII", 0x0C03, n, 28, 28) + pix, labels))


def h5_bytes(fill):
    import h5py
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "f.h5")
        with h5py.File(p, "w", libver="earliest") as f:
            fill(f)
        return open(p, "rb").read()


def h5_seeds():
    out("fuzz_h5", "f4_i8.h5", h5_bytes(lambda f: (f.create_dataset("x", data=np.arange(12, dtype=np.float32).reshape(3, 4)),
                                                    f.create_dataset("y", data=np.array([0, 2, 1], np.int64)))))
    out("fuzz_h5", "u1_3d_col.h5", h5_bytes(lambda f: (f.create_dataset("x", data=np.arange(12, dtype=np.uint8).reshape(2, 2, 3)),
                                                        f.create_dataset("y", data=np.array([[1.0], [0.0]])))))
    out("fuzz_h5", "chunked_gzip.h5", h5_bytes(lambda f: (
        f.create_dataset("x", data=np.linspace(0, 1, 40, dtype=np.float64).reshape(10, 4), chunks=(5, 4), compression="gzip"),
        f.create_dataset("y", data=np.arange(10, dtype=np.int32) % 3, chunks=(5,), compression="gzip"))))
    out("fuzz_h5", "bad_label.h5", h5_bytes(lambda f: (f.create_dataset("x", data=np.zeros((2, 2), np.float32)),
                                                        f.create_dataset("y", data=np.array([0.5, -1.0])))))
    out("fuzz_h5", "bad_rows.h5", h5_bytes(lambda f: (f.create_dataset("x", data=np.zeros((3, 2), np.float32)),
                                                       f.create_dataset("y", data=np.array([0, 1], np.int8)))))
    out("fuzz_h5", "bad_string.h5", h5_bytes(lambda f: (f.create_dataset("x", data=np.array([b"ab", b"cd"])),
                                                         f.create_dataset("y", data=np.array([0, 1], np.int8)))))
    out("fuzz_h5", "bad_group.h5", h5_bytes(lambda f: (f.create_group("x"), f.create_dataset("y", data=np.array([0], np.int8)))))


EXPERIMENTS = {
    "mlp_all_keys.yaml": """data: {dataset: yinyang, train_samples: 30, test_samples: 10, seed: 2}
encoding: {kind: rate, steps: 5, gain: 0.8, seed: 3}
network:
  - dense: {units: 8, bias: false, name: hidden}
  - lif: {beta: 0.8, threshold: 0.7, reset: hard, timing: same_step, surrogate: fast_sigmoid, surrogate_scale: 10, learn_beta: shared}
  - dropout: {p: 0.2}
  - dense: {units: 3}
  - lif: {fire: none, reset: none, learn_threshold: per_neuron}
training: {epochs: 2, batch_size: 4, loss: ce_mem, mem_reduce: sum, optimizer: adamw, lr: 0.01, weight_decay: 0.01,
  clip_norm: 1.0, schedule: cosine, warmup_steps: 2, total_steps: 20, min_lr: 0.0001, checkpoint_every: 3, seed: 9,
  rate_lambda: 0.1, rate_target: 0.1, rate_l2: false, tbptt: 2}
""",
    "sew.yaml": """data: {dataset: yinyang, train_samples: 16, test_samples: 8, seed: 2}
encoding: {kind: direct, steps: 3}
network:
  - dense: {units: 6, name: fc1}
  - batchnorm: {name: bn1, alpha: 0.5, v_th: 2, eps: 0.001, momentum: 0.2}
  - lif: {threshold: 2}
  - residual:
      name: sew
      connect: iand
      layers:
        - dense: {units: 6}
        - batchnorm: {}
        - lif
  - residual: {name: sew2, connect: and, layers: [lif]}
  - dense: {units: 3}
  - lif: {fire: none, reset: none}
training: {epochs: 1, batch_size: 8, hardware_safe: false}
""",
    "cnn.yaml": """data: {dataset: fashion_mnist, train_samples: 10}
encoding: {kind: latency, steps: 4}
network:
  - conv: {channels: 2, kernel: [3, 3], stride: 2, padding: 1, dilation: 1, groups: 1}
  - avgpool: {kernel: 2}
  - cuba: {alpha: 0.7, beta: 0.6}
  - conv: {channels: 2, kernel: 1, groups: 2, bias: false}
  - maxpool: {kernel: 2, stride: 1, padding: 1}
  - scale
  - flatten
  - dense: {units: 10}
  - alif: {adapt_rho: 0.9, adapt_beta: 1.0, fire: graded, n_max: 3}
training: {loss: ce_count, optimizer: sgd, momentum: 0.9, nesterov: true, schedule: step, step_size: 2, gamma: 0.5}
""",
    "conv1d_sequence.yaml": """data: {dataset: files, x_train: x.npy, y_train: y.npy, x_test: x.npy, y_test: y.npy, has_time: true}
encoding: {kind: delta, threshold: 0.2}
network:
  - conv: {dims: 1, channels: 3, kernel: 3, padding: 1}
  - sumpool: {dims: 1, kernel: 2}
  - flatten
  - delay: {steps: 2}
  - lif: {fire: gauss, sigma: 0.3, replicas: 2, recurrent: true, recurrent_bias: false}
  - dense: {units: 4}
  - lif: {fire: cauchy, sigma: 0.4, reset: refractory, refractory: 2, v_reset: -0.5, surrogate: erf}
training: {loss: mse_count, correct_rate: 0.9, incorrect_rate: 0.1}
""",
    "randman_recurrent.yaml": """data:
  dataset: randman
  randman: {classes: 3, units: 10, steps: 8, samples_per_class: 4, dim: 2, alpha: 1.5, freqs: 3, test_fraction: 0.25, seed: 4}
encoding: {kind: direct, gain: 2}
network:
  - dense: {units: 6}
  - alif: {recurrent: true, adapt_beta: 0.5}
  - dense: {units: 3}
  - lif: {fire: graded, graded_noise: gauss, timing: snntorch_nodelay, surrogate: softplus_ramp, detach_reset: false}
training: {loss: ce_first_spike}
""",
    "encodings.yaml": """encoding: {kind: population, pop_size: 4, pop_min: -1, pop_max: 1, pop_sigma: 0.3}
network: [{dense: {units: 2}}, {lif: {reset: hard_all}}]
""",
    "phase_burst.yaml": """encoding: {kind: phase, bits: 4, steps: 8}
network:
  - lif
""",
    "latency_log.yaml": """encoding: {kind: latency_log, tau: 3, threshold: 0.05}
network:
  - flatten
  - dense: {units: 2}
  - lif: {surrogate: triangle}
""",
    "attention.yaml": """data: {dataset: fashion_mnist, train_samples: 10}
encoding: {kind: direct, steps: 2}
network:
  - conv: {channels: 4, kernel: 3, stride: 2}
  - lif
  - attention: {name: blk, heads: 2, kind: stochastic, attn_threshold: 0.3, neuron: alif, learn_beta: shared}
  - conv: {dims: 1, channels: 2, kernel: 1}
  - attention: {heads: 1, kind: spikformer, scale: 0.5}
  - flatten
  - dense: {units: 10}
  - lif: {fire: none, reset: none}
""",
    "bad_attention_heads.yaml": "network:\n  - conv: {channels: 4, kernel: 1}\n  - attention: {heads: 0}\n  - lif\n",
    "reversible.yaml": """data: {dataset: yinyang, train_samples: 30, test_samples: 10, seed: 2}
encoding: {kind: rate, steps: 5}
network:
  - dense: {units: 6}
  - lif
  - reversible: {blocks: 3, op: dense, kind: cuba, beta: 0.5, learn_threshold: shared}
  - dense: {units: 3}
  - lif: {fire: none, reset: none}
""",
    "bad_unknown_key.yaml": "data:\n  dataset: yinyang\n  colour: blue\nnetwork:\n  - lif\n",
    "bad_type.yaml": "network:\n  - dense: {units: ten}\n  - lif\n",
    "bad_range.yaml": "network:\n  - dense: {units: 10}\n  - lif: {beta: 1.5}\n",
    "bad_yaml.yaml": "network: [\n",
    "bad_anchor.yaml": "a: &x {b: *x}\nnetwork: *x\n",
    "bad_empty.yaml": "",
    "bad_complex.yaml": "network:\n  - lif: {kind: complex, tau_m: 10, omega: 0.5}\n",
    "bad_last_layer.yaml": "network:\n  - dense: {units: 10}\n",
}


def experiment_seeds():
    for name in sorted(os.listdir(os.path.join(ROOT, "examples"))):
        if name.endswith(".yaml"):
            shutil.copy(os.path.join(ROOT, "examples", name), os.path.join(CORPUS, "fuzz_experiment", "example_" + name))
    for name, text in EXPERIMENTS.items():
        out("fuzz_experiment", name, text.encode())


MODELS = {
    "mlp": """data: {dataset: yinyang, train_samples: 40, test_samples: 10, seed: 2}
encoding: {kind: direct, steps: 4}
network:
  - dense: {units: 6}
  - lif: {beta: 0.8, learn_beta: shared}
  - dropout: {p: 0.2}
  - dense: {units: 3}
  - lif: {fire: none, reset: none, learn_threshold: per_neuron}
training: {epochs: 1, batch_size: 8, lr: 0.01, checkpoint_every: 2, seed: 3}
""",
    "recurrent": """data: {dataset: yinyang, train_samples: 16, test_samples: 8, seed: 2}
encoding: {kind: rate, steps: 3}
network:
  - dense: {units: 4}
  - alif: {recurrent: true}
  - dense: {units: 3}
  - cuba: {fire: none, reset: none, learn_beta: per_neuron}
training: {epochs: 1, batch_size: 8, optimizer: sgd, momentum: 0.9, lr: 0.01}
""",
    "attention": """data: {dataset: files, x_train: X, y_train: Y, x_test: X, y_test: Y}
encoding: {kind: direct, steps: 2}
network:
  - conv: {channels: 4, kernel: 3}
  - lif
  - attention: {heads: 2, kind: stochastic}
  - flatten
  - dense: {units: 2}
  - lif: {fire: none, reset: none}
training: {epochs: 1, batch_size: 4}
""",
    "sew": """data: {dataset: yinyang, train_samples: 16, test_samples: 8, seed: 2}
encoding: {kind: direct, steps: 3}
network:
  - dense: {units: 4, name: fc1}
  - batchnorm: {name: bn1}
  - lif
  - residual:
      name: sew
      connect: add
      layers:
        - dense: {units: 4}
        - batchnorm: {alpha: 0.70710678}
        - lif
  - dense: {units: 3}
  - lif: {fire: none, reset: none}
training: {epochs: 1, batch_size: 8, lr: 0.01}
""",
    "reversible": """data: {dataset: files, x_train: X, y_train: Y, x_test: X, y_test: Y}
encoding: {kind: direct, steps: 2}
network:
  - conv: {channels: 2, kernel: 3}
  - lif
  - reversible: {blocks: 2, op: conv, kernel: 3, learn_beta: per_neuron}
  - flatten
  - dense: {units: 2}
  - lif: {fire: none, reset: none}
training: {epochs: 1, batch_size: 4}
""",
    "conv": """data: {dataset: files, x_train: X, y_train: Y, x_test: X, y_test: Y}
encoding: {kind: direct, steps: 2}
network:
  - conv: {channels: 2, kernel: 3}
  - maxpool: {kernel: 2}
  - lif
  - flatten
  - dense: {units: 2}
  - lif: {fire: none, reset: none}
training: {epochs: 1, batch_size: 4}
""",
}


def model_seeds(spk):
    with tempfile.TemporaryDirectory() as d:
        np.save(os.path.join(d, "x.npy"), np.random.default_rng(5).random((8, 1, 6, 6), dtype=np.float32))
        np.save(os.path.join(d, "y.npy"), np.arange(8) % 2)
        for name, text in MODELS.items():
            y = os.path.join(d, name + ".yaml")
            with open(y, "w") as f:
                f.write(text.replace("X", os.path.join(d, "x.npy")).replace("Y", os.path.join(d, "y.npy")))
            run = os.path.join(d, name)
            subprocess.run([spk, "train", y, "-o", run, "--quiet"], check=True, stdout=subprocess.DEVNULL)
            shutil.copy(os.path.join(run, "model.spk"), os.path.join(CORPUS, "fuzz_model", name + ".spk"))
            shutil.copy(os.path.join(run, "checkpoints", "last.spk"), os.path.join(CORPUS, "fuzz_model", name + "_checkpoint.spk"))
        # quantized models (model.spkq) of the MLP, three ways
        mlp = os.path.join(d, "mlp", "model.spk")
        for name, args in [("mlp_8bit", []), ("mlp_4bit_per_channel_16", ["--bits", "4", "--per-channel", "--state-bits", "16"]),
                           ("mlp_12bit_input6", ["--bits", "12", "--input-bits", "6"])]:
            q = os.path.join(CORPUS, "fuzz_qmodel", name + ".spkq")
            subprocess.run([spk, "quantize", mlp, "-o", q, "--calib", "16", "--test", "4"] + args, check=True,
                           stdout=subprocess.DEVNULL)
        gq = open(os.path.join(CORPUS, "fuzz_qmodel", "mlp_8bit.spkq"), "rb").read()
        out("fuzz_qmodel", "bad_truncated.spkq", gq[: len(gq) // 2])
    good = open(os.path.join(CORPUS, "fuzz_model", "mlp.spk"), "rb").read()
    out("fuzz_model", "bad_truncated.spk", good[: len(good) // 2])
    out("fuzz_model", "bad_magic.spk", b"SPKMODEX" + good[8:])
    out("fuzz_model", "bad_version.spk", good[:8] + struct.pack("<I", 2) + good[12:])


NIR_FIXTURES = ["direct/single/LIF.nir", "direct/single/CubaLIF.nir", "direct/single/Conv2d.nir", "direct/single/Delay.nir",
                "direct/single/SumPool2d.nir", "direct/nested_recurrent_subgraph.nir", "snntorch_export/mlp_leaky.nir",
                "snntorch_export/rleaky_recurrent.nir"]


def nir_seeds():
    """NIR files from the shared fixtures (written by the NIR reference library and snnTorch)"""
    fx = os.environ.get("SPK_FIXTURES_DIR", os.path.join(ROOT, "..", "shared", "fixtures"))
    for rel in NIR_FIXTURES:
        data = open(os.path.join(fx, "nir", rel), "rb").read()
        out("fuzz_nir", rel.replace("/", "_"), data)
    lif = open(os.path.join(fx, "nir", NIR_FIXTURES[0]), "rb").read()
    out("fuzz_nir", "bad_truncated.nir", lif[: len(lif) // 2])


CSV = {
    "override.csv": b"name,neurons,j_per_sop,clock_mhz\nLoihi-1,2e5,2.1e-11,async\nMyChip,1024,1e-12,100\n",
    "quoted_crlf_bom.csv": b"\xef\xbb\xbfname,maker,synapse_model,announced\r\n\"Chip, \"\"A\"\"\",\"Lab\nTwo\",\"CuBa,Delta\",2020-02\r\n\r\n",
    "reordered_spaces.csv": b"software , on_chip_learning,name, process_nm, w_per_synapse\nLava, STDP , NewChip , 7 , 1e-9\n",
    "bad_quote.csv": b"name,maker\nA,Ma\"ker\n",
    "bad_unknown_column.csv": b"name,colour\nA,blue\n",
    "bad_twice.csv": b"name,neurons\nA,1\na,2\n",
    "bad_number.csv": b"name,neurons\nA,-5\n",
    "bad_date.csv": b"name,announced\nA,2020-13-01\n",
    "bad_open_quote.csv": b"name,maker\nA,\"Maker\n",
    "bad_fields.csv": b"name,maker\nA,B,C\n",
}


def csv_seeds():
    shutil.copy(os.path.join(ROOT, "src", "hw", "neuromorphic-hardware.csv"), os.path.join(CORPUS, "fuzz_hw_csv", "builtin.csv"))
    for name, data in CSV.items():
        out("fuzz_hw_csv", name, data)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    for h in ["fuzz_npy", "fuzz_idx", "fuzz_h5", "fuzz_experiment", "fuzz_model", "fuzz_nir", "fuzz_hw_csv", "fuzz_qmodel"]:
        os.makedirs(os.path.join(CORPUS, h), exist_ok=True)
    npy_seeds()
    idx_seeds()
    h5_seeds()
    experiment_seeds()
    nir_seeds()
    csv_seeds()
    model_seeds(sys.argv[1])


if __name__ == "__main__":
    main()
