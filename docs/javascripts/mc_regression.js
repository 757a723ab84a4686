// The interactive MC-dropout regression figure (docs/interactive-regression.md).
//
// window.MC_REGRESSION holds, for each (p, gap), T_MAX passes of a trained dropout MLP on a
// grid of inputs (docs/_hooks/interactive_regression.py makes it at build time). Moving a
// slider only re-averages the first T passes: mean_t y_t, the epistemic variance
// Var_t(y_t) (population, as mc_predict_regression) and the predictive variance
// 1/tau + Var_t(y_t). window.mcRegression.summary() gives the numbers the page prints, so
// tests can read them.
(function () {
  "use strict";

  const COLORS = {
    gap: "rgba(120, 120, 120, 0.12)", total: "rgba(33, 150, 243, 0.18)",
    epistemic: "rgba(33, 100, 200, 0.38)", mean: "#0d47a1", truth: "#444",
    points: "rgba(0, 0, 0, 0.55)", axis: "#888",
  };
  const Y_RANGE = [-3.2, 3.2];

  function truth(x) { return Math.sin(2.5 * x) + 0.4 * x; }

  function gapName(gap) { return gap[0] + "," + gap[1]; }

  // mean, epistemic and predictive variance of the first T passes, per grid point
  function moments(passes, T, tau) {
    const n = passes[0].length;
    const mean = new Array(n).fill(0), epistemic = new Array(n).fill(0);
    for (let t = 0; t < T; t++) for (let i = 0; i < n; i++) mean[i] += passes[t][i] / T;
    for (let t = 0; t < T; t++) {
      for (let i = 0; i < n; i++) epistemic[i] += (passes[t][i] - mean[i]) ** 2 / T;
    }
    const total = epistemic.map(v => v + 1 / tau);
    return { mean, epistemic, total };
  }

  function regionOf(x, gap) {
    if (x < -2 || x > 2) return "outside";
    return x > gap[0] && x < gap[1] ? "gap" : "data";
  }

  function average(values, keep) {
    let sum = 0, count = 0;
    values.forEach((v, i) => { if (keep(i)) { sum += v; count += 1; } });
    return count ? sum / count : NaN;
  }

  function current(state) {
    const data = window.MC_REGRESSION;
    const p = data.ps[state.p], gap = data.gaps[state.gap];
    const passes = data.passes[p + "|" + gapName(gap)];
    return { data, p, gap, passes, m: moments(passes, state.T, data.tau) };
  }

  function summary(state) {
    const { data, p, gap, m } = current(state);
    const halfWidth = m.total.map(v => 2 * Math.sqrt(v));
    const epiStd = m.epistemic.map(Math.sqrt);
    const inRegion = name => i => regionOf(data.x[i], gap) === name;
    return {
      T: state.T, p, gap,
      band_gap: average(halfWidth, inRegion("gap")),
      band_data: average(halfWidth, inRegion("data")),
      band_outside: average(halfWidth, inRegion("outside")),
      epistemic_gap: average(epiStd, inRegion("gap")),
      epistemic_data: average(epiStd, inRegion("data")),
    };
  }

  function draw(canvas, state) {
    const { data, gap, m } = current(state);
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(280, Math.min(720, canvas.parentElement.clientWidth));
    const height = Math.round(width * 0.58);
    canvas.style.width = width + "px";
    canvas.style.height = height + "px";
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const x0 = data.x[0], x1 = data.x[data.x.length - 1];
    const px = x => (x - x0) / (x1 - x0) * width;
    const py = y => (Y_RANGE[1] - y) / (Y_RANGE[1] - Y_RANGE[0]) * height;

    ctx.fillStyle = COLORS.gap;                       // the gap, and the data's range
    ctx.fillRect(px(gap[0]), 0, px(gap[1]) - px(gap[0]), height);
    ctx.strokeStyle = COLORS.axis;
    ctx.setLineDash([2, 4]);
    [-2, 2].forEach(x => { ctx.beginPath(); ctx.moveTo(px(x), 0); ctx.lineTo(px(x), height);
      ctx.stroke(); });

    function band(variance, color) {
      ctx.fillStyle = color;
      ctx.beginPath();
      data.x.forEach((x, i) => ctx.lineTo(px(x), py(m.mean[i] + 2 * Math.sqrt(variance[i]))));
      for (let i = data.x.length - 1; i >= 0; i--) {
        ctx.lineTo(px(data.x[i]), py(m.mean[i] - 2 * Math.sqrt(variance[i])));
      }
      ctx.closePath();
      ctx.fill();
    }
    band(m.total, COLORS.total);
    band(m.epistemic, COLORS.epistemic);

    ctx.setLineDash([5, 4]);                          // the function behind the data
    ctx.strokeStyle = COLORS.truth;
    ctx.lineWidth = 1;
    ctx.beginPath();
    data.x.forEach(x => ctx.lineTo(px(x), py(truth(x))));
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.strokeStyle = COLORS.mean;                    // the MC mean
    ctx.lineWidth = 2;
    ctx.beginPath();
    data.x.forEach((x, i) => ctx.lineTo(px(x), py(m.mean[i])));
    ctx.stroke();

    ctx.fillStyle = COLORS.axis;                      // x ticks, for orientation
    ctx.font = "11px sans-serif";
    ctx.textAlign = "center";
    for (let x = Math.ceil(x0); x <= Math.floor(x1); x++) {
      if (x !== x0 && x !== x1) ctx.fillText(String(x), px(x), height - 4);
    }

    const train = data.train[gapName(gap)];
    ctx.fillStyle = COLORS.points;
    train.x.forEach((x, i) => { ctx.beginPath();
      ctx.arc(px(x), py(train.y[i]), 1.8, 0, 2 * Math.PI); ctx.fill(); });
  }

  function init() {
    const root = document.getElementById("mc-regression");
    if (!root || !window.MC_REGRESSION) return;
    const canvas = root.querySelector("canvas");
    const inputs = { T: root.querySelector("#mcr-T"), p: root.querySelector("#mcr-p"),
      gap: root.querySelector("#mcr-gap") };
    const data = window.MC_REGRESSION;
    inputs.T.max = String(data.t_max);
    inputs.p.max = String(data.ps.length - 1);
    inputs.gap.max = String(data.gaps.length - 1);
    const state = () => ({ T: +inputs.T.value, p: +inputs.p.value, gap: +inputs.gap.value });

    function update() {
      const s = summary(state());
      root.querySelector("#mcr-T-value").textContent = s.T;
      root.querySelector("#mcr-p-value").textContent = s.p;
      root.querySelector("#mcr-gap-value").textContent = "(" + s.gap[0] + ", " + s.gap[1] + ")";
      root.querySelector("#mcr-readout").textContent =
        "mean ±2σ half-width: " + s.band_data.toFixed(3) + " in the data, " +
        s.band_gap.toFixed(3) + " in the gap, " + s.band_outside.toFixed(3) +
        " beyond; of which the passes' spread (epistemic std): " +
        s.epistemic_data.toFixed(3) + " in the data, " + s.epistemic_gap.toFixed(3) +
        " in the gap.";
      draw(canvas, state());
    }
    Object.values(inputs).forEach(input => input.addEventListener("input", update));
    window.addEventListener("resize", update);
    window.mcRegression = {
      summary: () => summary(state()),
      set(T, p, gap) {
        inputs.T.value = String(T); inputs.p.value = String(p); inputs.gap.value = String(gap);
        update();
        return summary(state());
      },
    };
    update();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
