// The page's state, declared in one place: what the server said, what is on show, and what
// play is doing. Every other module reads and writes these fields, and no others.

export const $ = (id) => document.getElementById(id);

export const S = {
  options: null,       // GET /api/options: the menus, the limits, the first run, the loss policy
  config: null,        // the configuration of the session on show, as the server checked it
  session: null,       // that session's key
  state: null,         // the last state the server sent (Session.state)
  view: null,          // that state's arrays, decoded, and what the network view overlays
  curves: {},          // the curves so far: each state sends the epochs the page lacks
  points: null,        // the data's points (they come once per configuration)
  metrics: null,       // the last metrics sent (while playing, they come a few times a second)
  metricsShown: null,  // the metrics the table shows
  upload: null,        // what the server said of the uploaded file (its task, classes, target)
  selected: null,      // the weight or neuron whose chain is shown: { layer, from, to }
  hide: new Set(),     // what classroom mode hides (saved in the URL)
  biasAll: undefined,  // the "bias" switch just set: one value for every layer
  playing: false,      // whether play goes on
  playDone: null,      // play's end (a promise), to wait for before another action
  queue: null,         // the actions asked for, run one after the other
  restarts: 0,         // the runs the controls asked for that have not started yet, and the one starting
  restartQueue: null,  // those restarts, one after the other (only the newest of those waiting runs)
  nextConfig: null,    // the newest configuration asked for
  asked: null,         // that configuration as JSON (the same one again restarts nothing)
  lastHash: "",        // the URL's hash as the page last wrote it
  hashWritten: 0,      // when (the page writes it a few times a second while playing)
  stats: { steps: 0, frames: 0, started: 0, requestMs: 0, drawMs: 0 },  // play's own timing
};
