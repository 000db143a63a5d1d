#!/usr/bin/env node
// ONNX Runtime (onnxruntime-node, CPU execution provider) on a ResNet ONNX model.
//
// usage: node ort_bench.js --model M.onnx [--threads N (0: ORT default)] [--batch B] [--warmup W] [--iters K]
//        node ort_bench.js --model M.onnx --cold [--threads N]
// Throughput mode: load, W warm-up runs, then K timed runs; prints one JSON line
//   {"runtime", "version", "threads", "batch", "iters", "median_ms", "min_ms", "imgs_per_s"}.
// Cold mode: load the model, run one batch-1 inference, print {"load_ms", "infer_ms"} and exit
// (measure the whole process with /usr/bin/time -v for wall time and peak RSS).
// Install: cd bench/peers && npm install --ignore-scripts (see package.json).
'use strict';

function parseArgs(argv) {
  const a = {model: '', threads: 1, batch: 1, warmup: 3, iters: 10, cold: false};
  for (let i = 0; i < argv.length; ++i) {
    const k = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 0) fail(`${k} expects a non-negative integer`);
      return v;
    };
    if (k === '--model') a.model = argv[++i];
    else if (k === '--threads') a.threads = num();
    else if (k === '--batch') a.batch = num();
    else if (k === '--warmup') a.warmup = num();
    else if (k === '--iters') a.iters = num();
    else if (k === '--cold') a.cold = true;
    else fail(`unknown argument ${k}`);
  }
  if (!a.model) fail('--model M.onnx is required');
  // --threads 0: ONNX Runtime's own default (one thread per physical core).
  if (a.threads < 0 || a.batch < 1 || a.iters < 1) fail('threads >= 0, batch and iters >= 1');
  return a;
}

function fail(msg) {
  process.stderr.write(`ort_bench.js: ${msg}\n`);
  process.exit(2);
}

function loadOrt() {
  try {
    return require('onnxruntime-node');
  } catch (e) {
    fail('onnxruntime-node is not installed: run `npm install --ignore-scripts` in bench/peers (' +
         e.message.split('\n')[0] + ')');
  }
}

const ms = (t0, t1) => Number(t1 - t0) / 1e6;

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const tStart = process.hrtime.bigint();
  const ort = loadOrt();
  const opts = {
    executionProviders: ['cpu'],
    intraOpNumThreads: a.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
  const session = await ort.InferenceSession.create(a.model, opts);
  const tLoaded = process.hrtime.bigint();
  const inputName = session.inputNames[0];
  const batch = a.cold ? 1 : a.batch;
  const data = new Float32Array(batch * 3 * 224 * 224);
  let s = 12345;  // fixed pseudo-random input
  for (let i = 0; i < data.length; ++i) {
    s = (s * 1103515245 + 12345) >>> 0;
    data[i] = (s / 4294967296) * 2 - 1;
  }
  const feeds = {[inputName]: new ort.Tensor('float32', data, [batch, 3, 224, 224])};
  const version = require('onnxruntime-node/package.json').version;

  if (a.cold) {
    const t0 = process.hrtime.bigint();
    const out = await session.run(feeds);
    const t1 = process.hrtime.bigint();
    const logits = out[session.outputNames[0]].data;
    let best = 0;
    for (let i = 1; i < logits.length; ++i) if (logits[i] > logits[best]) best = i;
    console.log(JSON.stringify({runtime: 'onnxruntime-node', version, threads: a.threads,
                                load_ms: ms(tStart, tLoaded), infer_ms: ms(t0, t1), top1: best}));
    return;
  }
  for (let i = 0; i < a.warmup; ++i) await session.run(feeds);
  const times = [];
  for (let i = 0; i < a.iters; ++i) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    times.push(ms(t0, process.hrtime.bigint()));
  }
  times.sort((x, y) => x - y);
  const n = times.length;
  const median = n % 2 ? times[(n - 1) / 2] : (times[n / 2 - 1] + times[n / 2]) / 2;
  console.log(JSON.stringify({
    runtime: 'onnxruntime-node', version, threads: a.threads, batch: a.batch, iters: a.iters,
    median_ms: median, min_ms: times[0], imgs_per_s: a.batch * 1000 / median,
  }));
}

main().catch((e) => fail(String(e && e.message ? e.message : e).split('\n')[0]));
