// A frame clock for the capture page's test clock, in a worker: the timers of a page in
// the background are throttled to one a second, a worker's are not. Post {period} (ms) to
// start it; it posts a message on every tick, on a fixed schedule that does not drift.
'use strict';
let timer = 0;
onmessage = (e) => {
  clearTimeout(timer);
  const period = e.data.period;
  const t0 = performance.now();
  let n = 0;
  const loop = () => {
    postMessage(n);
    n++;
    timer = setTimeout(loop, Math.max(0, t0 + n * period - performance.now()));
  };
  loop();
};
