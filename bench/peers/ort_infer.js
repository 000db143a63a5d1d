#!/usr/bin/env node
// ONNX Runtime (onnxruntime-node, CPU) on one raw float32 tensor: the peer of `scratchcv infer`.
//
// usage: node ort_infer.js MODEL.onnx INPUT.f32 N,C,H,W OUTPUT.f32 [--threads T]
// Writes the first output as raw little-endian float32 and prints its shape as JSON.
// ORT_OPT=disabled runs the graph as written (a QDQ file: DQ -> float op -> Q, the ONNX
// semantics); the default 'all' lets ORT fuse QDQ groups into its int8 kernels.
// The package is found in bench/peers/node_modules or through $SCV_ORT_NODE_MODULES.
'use strict';
const fs = require('fs');
const path = require('path');

function loadOrt() {
  const dirs = [process.env.SCV_ORT_NODE_MODULES, path.join(__dirname, 'node_modules')];
  for (const d of dirs) {
    if (!d) continue;
    try {
      return require(path.join(d, 'onnxruntime-node'));
    } catch (e) { /* next */ }
  }
  process.stderr.write('ort_infer.js: onnxruntime-node is not installed\n');
  process.exit(3);
}

async function main() {
  const a = process.argv.slice(2);
  let threads = 1;
  const ti = a.indexOf('--threads');
  if (ti >= 0) {
    threads = Number(a[ti + 1]);
    a.splice(ti, 2);
  }
  if (a.length !== 4) {
    process.stderr.write('usage: ort_infer.js MODEL INPUT.f32 N,C,H,W OUTPUT.f32 [--threads T]\n');
    process.exit(2);
  }
  const ort = loadOrt();
  const dims = a[2].split(',').map(Number);
  const buf = fs.readFileSync(a[1]);
  const data = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  const sess = await ort.InferenceSession.create(a[0], {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: process.env.ORT_OPT || 'all',
  });
  const feeds = {};
  feeds[sess.inputNames[0]] = new ort.Tensor('float32', Float32Array.from(data), dims);
  const out = await sess.run(feeds);
  const y = out[sess.outputNames[0]];
  fs.writeFileSync(a[3], Buffer.from(y.data.buffer, y.data.byteOffset, y.data.length * 4));
  process.stdout.write(JSON.stringify({dims: y.dims}) + '\n');
}

main().catch((e) => {
  process.stderr.write('ort_infer.js: ' + e.message + '\n');
  process.exit(1);
});
