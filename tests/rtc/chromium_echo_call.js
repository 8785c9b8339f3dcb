// A test call from Chromium: fetch TURN credentials, open the Echo room, join the call,
// answer the bot's offer relay-only, and poll getStats until our media came back. With
// `restartIce`, Chromium then restarts ICE (what the app does when a connection drops) and
// the media must flow again. Run with page.evaluate (the page is on the server's origin,
// signed in).
async (restartIce) => {
  const json = async (method, path, body) => {
    const r = await fetch(path, {method, headers: {"Content-Type": "application/json"},
                                 body: body === undefined ? undefined : JSON.stringify(body)});
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status}`);
    return r.json();
  };
  const ice = await json("GET", "/api/turn");
  const room = (await json("POST", "/api/test-call", {})).room.id;
  const ws = new WebSocket(location.origin.replace("http", "ws") + "/api/ws");
  const inbox = [];
  let wake = null;
  ws.onmessage = (e) => { inbox.push(JSON.parse(e.data)); if (wake) wake(); };
  await new Promise((ok) => (ws.onopen = ok));
  const next = async (want) => {
    for (;;) {
      const i = inbox.findIndex(want);
      if (i >= 0) return inbox.splice(i, 1)[0];
      await new Promise((ok) => (wake = ok));
    }
  };
  ws.send(JSON.stringify({type: "hello", since: 0, req: "h"}));
  await next((f) => f.type === "reply" && f.req === "h");
  ws.send(JSON.stringify({type: "rtc.call.join", room, audio: true, video: true, req: "j"}));
  const call = (await next((f) => f.type === "reply" && f.req === "j")).data.call;
  const offer = await next((f) => f.type === "rtc.signal" && f.data.kind === "offer");
  const udp = ice.urls.filter((u) => u.endsWith("transport=udp"));
  const pc = new RTCPeerConnection({
    iceServers: [{urls: udp, username: ice.username, credential: ice.credential}],
    iceTransportPolicy: "relay",
  });
  const signal = (data) => ws.send(JSON.stringify(
    {type: "rtc.signal", room, to: offer.from, data: {call: call.id, ...data}}));
  const players = [];  // Chromium decodes received audio only for a playing sink
  pc.ontrack = (e) => {
    if (e.track.kind !== "audio") return;
    const player = new Audio();
    player.srcObject = new MediaStream([e.track]);
    players.push(player);
    player.play();
  };
  pc.onicecandidate = (e) => signal({kind: "candidate", candidate: e.candidate && e.candidate.toJSON()});
  const media = await navigator.mediaDevices.getUserMedia({audio: true, video: {width: 320, height: 240}});
  await pc.setRemoteDescription({type: "offer", sdp: offer.data.sdp});
  for (const track of media.getTracks()) pc.addTrack(track, media);
  await pc.setLocalDescription(await pc.createAnswer());
  signal({kind: "answer", sdp: pc.localDescription.sdp});

  const selectedPair = (stats) => {
    for (const s of stats.values()) {
      if (s.type === "transport" && s.selectedCandidatePairId) return stats.get(s.selectedCandidatePairId);
    }
    return null;
  };
  const measure = async () => {
    const found = {state: pc.connectionState, video: 0, audio: 0, energy: 0, local: "", remote: ""};
    const stats = await pc.getStats();
    stats.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") found.video = s.framesDecoded || 0;
      if (s.type === "inbound-rtp" && s.kind === "audio") {
        found.audio = s.totalSamplesReceived || 0;
        found.energy = s.totalAudioEnergy || 0;  // the fake microphone beeps: not silence
      }
    });
    // The pair in use is the transport's selected one (a nominated, succeeded pair may not
    // be flagged yet when media already flows).
    const pair = selectedPair(stats);
    if (pair) {
      found.local = stats.get(pair.localCandidateId)?.candidateType ?? "";
      found.remote = stats.get(pair.remoteCandidateId)?.candidateType ?? "";
    }
    return found;
  };
  const until = async (done) => {
    const deadline = Date.now() + 40000;
    for (;;) {
      const found = await measure();
      if (done(found) || Date.now() > deadline) return found;
      await new Promise((ok) => setTimeout(ok, 250));
    }
  };
  const result = await until((f) => f.video > 10 && f.audio > 48000 && f.energy > 0 && f.local !== "");
  if (restartIce) {
    pc.restartIce();
    await pc.setLocalDescription(await pc.createOffer());
    signal({kind: "offer", sdp: pc.localDescription.sdp});
    const answer = await next((f) => f.type === "rtc.signal" && f.data.kind === "answer");
    await pc.setRemoteDescription({type: "answer", sdp: answer.data.sdp});
    const before = (await measure()).video;
    const after = await until((f) => f.state === "connected" && f.video > before + 30);
    result.restarted = {state: after.state, video: after.video - before};
  }
  ws.send(JSON.stringify({type: "rtc.call.leave", room}));
  pc.close();
  return result;
}
