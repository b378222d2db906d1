// ort_features.js -- the 1280 features ONNX Runtime computes for one fixed input, one per
// line, so that bench/section_10_featurizer.sh can check that ORT's AVX2 copy
// (bench/ort_avx2.py) computes what the original does.
//   NODE_PATH=DIR/node_modules node bench/ort_features.js MODEL.onnx
// The input is the anchor's bench.js input at S = 224 (same generator, same seed).
const ort = require('onnxruntime-node');
(async () => {
    const sess = await ort.InferenceSession.create(process.argv[2], {
        intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all',
        executionProviders: ['cpu'] });
    const size = 224, n = 3 * size * size, data = new Float32Array(n);
    let s = 12345;
    for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) % 2147483648; data[i] = s / 2147483648 * 4 - 2; }
    const out = await sess.run({ input: new ort.Tensor('float32', data, [1, 3, size, size]) });
    console.log(Array.from(out.features.data).map(v => v.toPrecision(9)).join('\n'));
})().catch(e => { console.error(e.message); process.exit(1); });
