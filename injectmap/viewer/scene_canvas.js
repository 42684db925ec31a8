// The browser side of viewer/scene_canvas.py: one vtk.js render window, kept for the life of the
// page and updated in place.
//
// Python sends two things (see scene_canvas.py for the format):
// - `meshes`: a binary blob with the meshes the browser does not hold yet, and the hashes it may drop;
// - `scene`: every actor (mesh hash, visibility, opacity, colour, shading, pickable), in a few kB,
//   and the selected point's drag handle (its actor and the skin point it stands on).
// The meshes are kept by hash for the life of the model, so a click that moves one sphere changes
// a few actors and re-uploads nothing else. A mesh listed in the blob's `derived` came as its points
// alone: its triangles and colours are those of its base mesh, its normals are computed here; a blob
// with `actors` (actor id -> mesh) is a whole update of those actors (a frame of the expression slider
// moves the skin's points and nothing else). A click on the canvas picks the surface under the
// cursor (vtk.js cell picker) and sends its position to Python, which places a point when placing
// is on; a press on the handle drags the selected point over the skin and sends where it was let
// go. `placing` only sets the cursor.
//
// The container tells whoever waits on it (the browser tests) what it did: `data-frames` (frames drawn),
// `data-scene-seq` (the scene drawn), `data-ready` ("1" once it takes pointer input and shows the scene
// the model holds), `data-presses`, `data-picks-sent`, `data-picks-missed` and `data-camera-sent`.

const MAGIC = 0x48534d49  // "IMSH", little-endian

function hexRgb(hex) {
  const v = parseInt(hex.replace("#", ""), 16)
  return [((v >> 16) & 255) / 255, ((v >> 8) & 255) / 255, (v & 255) / 255]
}

function asBuffer(value) {
  if (value == null) { return null }
  if (value instanceof ArrayBuffer) { return value }
  if (ArrayBuffer.isView(value)) {
    return value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength)
  }
  if (typeof value === "string") {  // base64, if the transport did not keep the bytes binary
    const bin = atob(value)
    const out = new Uint8Array(bin.length)
    for (let i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i) }
    return out.buffer
  }
  return null
}

// decode a blob: {seq, drop, meshes: {hash: {points, tris16 | tris32, normals?, rgbRuns?}}} as typed arrays
function decode(value) {
  const buf = asBuffer(value)
  if (buf == null || buf.byteLength < 8) { return null }
  const head = new DataView(buf, 0, 8)
  if (head.getUint32(0, true) !== MAGIC) { throw new Error("scene meshes: not an injectmap mesh blob") }
  const n = head.getUint32(4, true)
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 8, n)))
  const kinds = {points: Float32Array, normals: Float32Array, tris16: Uint16Array, tris32: Uint32Array,
                 rgbRuns: Uint32Array}
  const meshes = {}
  for (const [hash, spec] of Object.entries(header.meshes)) {
    const m = {}
    for (const [key, [offset, count]] of Object.entries(spec)) {
      m[key] = new kinds[key](buf, offset, count)
    }
    meshes[hash] = m
  }
  return {seq: header.seq, drop: header.drop || [], meshes, derived: header.derived || {},
          actors: header.actors || {}}
}

// a mesh sent as its points: the rest is its base's (the normals are computed when it is drawn)
function derive(m, base) {
  if (!base) { throw new Error("scene meshes: points for a mesh the browser does not hold") }
  for (const key of ["tris16", "tris32", "rgbRuns"]) { if (base[key]) { m[key] = base[key] } }
  m.computeNormals = Boolean(base.normals || base.computeNormals)
}

// smooth normals from the triangles (area-weighted, the winding's orientation, as Python computes them)
function vertexNormals(points, tris) {
  const n = new Float32Array(points.length)
  for (let i = 0; i < tris.length; i += 3) {
    const a = 3 * tris[i], b = 3 * tris[i + 1], c = 3 * tris[i + 2]
    const ux = points[b] - points[a], uy = points[b + 1] - points[a + 1], uz = points[b + 2] - points[a + 2]
    const vx = points[c] - points[a], vy = points[c + 1] - points[a + 1], vz = points[c + 2] - points[a + 2]
    const nx = uy * vz - uz * vy, ny = uz * vx - ux * vz, nz = ux * vy - uy * vx
    n[a] += nx; n[a + 1] += ny; n[a + 2] += nz
    n[b] += nx; n[b + 1] += ny; n[b + 2] += nz
    n[c] += nx; n[c + 1] += ny; n[c + 2] += nz
  }
  for (let i = 0; i < n.length; i += 3) {
    const len = Math.hypot(n[i], n[i + 1], n[i + 2]) || 1
    n[i] /= len; n[i + 1] /= len; n[i + 2] /= len
  }
  return n
}

// triangles' point ids -> VTK's legacy cell layout (3, a, b, c, ...)
function legacyPolys(tris) {
  const n = tris.length / 3
  const out = new Uint32Array(4 * n)
  for (let i = 0, j = 0, k = 0; i < n; i++) {
    out[j++] = 3; out[j++] = tris[k++]; out[j++] = tris[k++]; out[j++] = tris[k++]
  }
  return out
}

// runs of (count, 0xRRGGBB) -> RGB per cell
function runColours(runs) {
  let n = 0
  for (let i = 0; i < runs.length; i += 2) { n += runs[i] }
  const out = new Uint8Array(3 * n)
  for (let i = 0, j = 0; i < runs.length; i += 2) {
    const c = runs[i + 1], r = (c >> 16) & 255, g = (c >> 8) & 255, b = c & 255
    for (let k = 0; k < runs[i]; k++) { out[j++] = r; out[j++] = g; out[j++] = b }
  }
  return out
}

function polyData(vtk, m) {
  const pd = vtk.Common.DataModel.vtkPolyData.newInstance()
  pd.getPoints().setData(m.points, 3)
  pd.getPolys().setData(legacyPolys(m.tris16 || m.tris32 || new Uint32Array(0)))
  const DataArray = vtk.Common.Core.vtkDataArray
  if (!m.normals && m.computeNormals) { m.normals = vertexNormals(m.points, m.tris16 || m.tris32) }
  if (m.normals) {
    pd.getPointData().setNormals(DataArray.newInstance({name: "Normals", numberOfComponents: 3, values: m.normals}))
  }
  if (m.rgbRuns) {
    const rgb = runColours(m.rgbRuns)
    pd.getCellData().setScalars(DataArray.newInstance({name: "rgb", numberOfComponents: 3, values: rgb}))
  }
  return pd
}

export function render({model, view, el}) {
  const vtk = window.vtk
  const div = document.createElement("div")
  div.className = "injectmap-scene"
  div.style.width = "100%"
  div.style.height = "100%"
  div.style.position = "relative"
  el.appendChild(div)

  const grw = vtk.Rendering.Misc.vtkGenericRenderWindow.newInstance({
    background: hexRgb(model.background), listenWindowResize: false,
  })
  grw.setContainer(div)
  grw.resize()
  const renderer = grw.getRenderer()
  const renderWindow = grw.getRenderWindow()
  const interactor = grw.getInteractor()
  const camera = renderer.getActiveCamera()

  // meshes by hash, kept with the Bokeh model (a re-rendered view finds them again)
  const store = view.model._injectmapMeshes || (view.model._injectmapMeshes = {data: new Map(), seq: -1})
  // actor id -> {hash, seq}: meshes set by a points-only blob, newer than the scene the model holds
  store.actorMesh = store.actorMesh || new Map()
  const polys = new Map()  // hash -> vtkPolyData (built on first use)
  const actors = new Map()  // actor id -> {actor, mapper, hash}
  let appliedScene = null
  let frames = 0

  function takeMeshes() {
    const blob = decode(model.meshes)
    if (blob == null || blob.seq <= store.seq) { return }
    for (const [h, m] of Object.entries(blob.meshes)) {
      if (blob.derived[h]) { derive(m, store.data.get(blob.derived[h])) }
      store.data.set(h, m)
    }
    for (const h of blob.drop) { store.data.delete(h); polys.delete(h) }
    store.seq = blob.seq
    for (const [id, h] of Object.entries(blob.actors)) { store.actorMesh.set(id, {hash: h, seq: blob.seq}) }
  }

  // the mesh an actor draws: the scene's, or a newer one from a points-only blob
  function meshOf(a, scene) {
    const over = store.actorMesh.get(a.id)
    if (over && over.seq > scene.seq) { return over.hash }
    if (over) { store.actorMesh.delete(a.id) }
    return a.mesh
  }

  function poly(hash) {
    if (!polys.has(hash)) { polys.set(hash, polyData(vtk, store.data.get(hash))) }
    return polys.get(hash)
  }

  function applyCamera() {
    const c = model.camera
    if (!c || !c.position) { return }
    camera.set({position: c.position, focalPoint: c.focalPoint, viewUp: c.viewUp})
    if (c.viewAngle) { camera.setViewAngle(c.viewAngle) }
    renderer.resetCameraClippingRange()
  }

  function applyScene() {
    const scene = model.scene
    if (!scene || !scene.actors) { return false }
    for (const a of scene.actors) {
      const h = meshOf(a, scene)
      if (h && !store.data.has(h)) { return false }  // its meshes are still on the way
    }
    const seen = new Set()
    for (const sa of scene.actors) {
      const a = {...sa, mesh: meshOf(sa, scene)}
      seen.add(a.id)
      let entry = actors.get(a.id)
      if (!entry) {
        const mapper = vtk.Rendering.Core.vtkMapper.newInstance()
        const actor = vtk.Rendering.Core.vtkActor.newInstance()
        actor.setMapper(mapper)
        renderer.addActor(actor)
        entry = {actor, mapper, hash: null}
        actors.set(a.id, entry)
      }
      const {actor, mapper} = entry
      if (a.mesh && a.mesh !== entry.hash) {
        mapper.setInputData(poly(a.mesh))
        entry.hash = a.mesh
      }
      actor.setVisibility(Boolean(a.visible && a.mesh))
      actor.setPosition(0, 0, 0)  // a dragged handle returns to its mesh, which Python moved
      actor.setPickable(Boolean(a.pickable))
      mapper.setScalarVisibility(Boolean(a.cellColors))
      if (a.cellColors) {
        mapper.setScalarModeToUseCellData()
        mapper.setColorModeToDirectScalars()
      }
      const prop = actor.getProperty()
      prop.setColor(...a.color)
      prop.setOpacity(a.opacity)
      prop.setSpecular(a.specular || 0)
      prop.setSpecularPower(30)
      if (a.smooth) { prop.setInterpolationToPhong() } else { prop.setInterpolationToFlat() }
    }
    for (const [id, entry] of actors) {
      if (!seen.has(id)) { renderer.removeActor(entry.actor); actors.delete(id) }
    }
    // polydata no actor uses any more (the blob's drop list frees their arrays)
    const used = new Set([...actors.values()].map((e) => e.hash))
    for (const h of polys.keys()) { if (!used.has(h)) { polys.delete(h) } }
    appliedScene = scene.seq
    return true
  }

  function draw() {
    renderWindow.render()
    frames += 1
    div.dataset.frames = String(frames)
    div.dataset.sceneSeq = String(appliedScene)
    div.dataset.meshSeq = String(store.seq)
    if (frames === 1) { window.injectmapFirstFrame = performance.now() }
    markReady()
    placeLabels()
  }

  // ``data-ready`` is "1" once this view takes pointer input and shows the scene the model holds: its
  // pointer handlers (below) are attached before its first sync, so a drawn scene means both. It is "0"
  // while a newer scene waits for its meshes (what is drawn, and picked, is then the scene before)
  function markReady() {
    const scene = model.scene
    const current = !scene || !scene.actors || scene.seq === appliedScene
    div.dataset.ready = (appliedScene !== null && current) ? "1" : "0"
  }

  function sync() {
    takeMeshes()
    if (applyScene()) { draw() } else { markReady() }
  }

  // Labels beside points, structures and landmarks: plain text in HTML boxes over the canvas, placed
  // at the projection of their anchor after every frame and camera change; a label that would
  // overlap one placed before it (the list comes in priority order) is left out, so they never pile up,
  // and so is one whose surface faces away from the camera (its ``normal``, viewer/labels.py): a point on the
  // far side of the head is not labelled through it
  const overlay = document.createElement("div")
  overlay.className = "injectmap-labels"
  overlay.style.cssText = "position:absolute;left:0;top:0;width:100%;height:100%;pointer-events:none;overflow:hidden"
  div.appendChild(overlay)
  let labelNodes = []

  function buildLabels() {
    overlay.replaceChildren()
    labelNodes = []
    for (const l of (model.labels || [])) {
      const node = document.createElement("span")
      node.className = `injectmap-label injectmap-label-${l.kind}`
      node.textContent = l.text  // user text stays text
      node.style.cssText = "position:absolute;white-space:nowrap;font:12px sans-serif;padding:0 3px;" +
        "border-radius:3px;color:#fff;background:" + (l.kind === "point" ? "rgba(20,20,30,0.8)" :
        l.kind === "warned" ? "rgba(150,40,20,0.8)" : "rgba(30,70,110,0.8)")
      overlay.appendChild(node)
      labelNodes.push([l, node])
    }
    placeLabels()
  }

  function placeLabels() {
    const canvas = div.querySelector("canvas")
    if (!canvas || !labelNodes.length) { return }
    const api = grw.getApiSpecificRenderWindow()
    const sx = div.clientWidth / canvas.width
    const sy = div.clientHeight / canvas.height
    const placed = []
    const eye = camera.getPosition()
    let shown = 0
    let behind = 0
    for (const [l, node] of labelNodes) {
      if (l.normal) {
        const v = [eye[0] - l.xyz[0], eye[1] - l.xyz[1], eye[2] - l.xyz[2]]
        const cos = (v[0] * l.normal[0] + v[1] * l.normal[1] + v[2] * l.normal[2]) / (Math.hypot(...v) || 1)
        if (cos < model.label_facing) { node.style.display = "none"; behind += 1; continue }
      }
      const d = api.worldToDisplay(l.xyz[0], l.xyz[1], l.xyz[2], renderer)
      const x = d[0] * sx + 6
      const y = (canvas.height - d[1]) * sy - 8
      const w = node.offsetWidth || 8 * l.text.length
      const h = node.offsetHeight || 16
      const box = [x, y, x + w, y + h]
      const off = x < 0 || y < 0 || box[2] > div.clientWidth || box[3] > div.clientHeight
      const hit = placed.some((b) => box[0] < b[2] && b[0] < box[2] && box[1] < b[3] && b[1] < box[3])
      if (off || hit) { node.style.display = "none"; continue }
      node.style.display = ""
      node.style.left = `${x}px`
      node.style.top = `${y}px`
      placed.push(box)
      shown += 1
    }
    div.dataset.labelsShown = String(shown)
    div.dataset.labelsBehind = String(behind)
  }

  // Counters on the container, for whoever waits on the canvas (the browser tests), kept with the
  // Bokeh model (a re-rendered view counts on): ``data-camera-sent`` the cameras sent back (below),
  // ``data-presses`` the left-button presses taken, ``data-picks-sent`` the clicks whose surface point
  // went to Python, ``data-picks-missed`` the clicks that hit no pickable surface (nothing is sent)
  const counts = view.model._injectmapCounts || (view.model._injectmapCounts = {cameras: 0, picks: 0, missed: 0})
  div.dataset.cameraSent = String(counts.cameras)

  // the camera the user turned to is sent back (debounced), so exports use the same view
  // (``data-camera-sent``: what a test waits for before an export)
  let cameraTimer = null
  camera.onModified(() => {
    placeLabels()
    if (cameraTimer) { clearTimeout(cameraTimer) }
    cameraTimer = setTimeout(() => {
      cameraTimer = null
      model.send_msg({camera: {position: camera.getPosition(), focalPoint: camera.getFocalPoint(),
                               viewUp: camera.getViewUp()}})
      counts.cameras += 1
      div.dataset.cameraSent = String(counts.cameras)
    }, 400)
  })

  function canvasXY(ev) {
    const canvas = div.querySelector("canvas")
    const rect = canvas.getBoundingClientRect()
    return [(ev.clientX - rect.left) * canvas.width / rect.width,
            (rect.bottom - ev.clientY) * canvas.height / rect.height]
  }

  // the surface point under the cursor: pickable actors only (the skin, when it is shown)
  function pickSurface(ev) {
    const picker = vtk.Rendering.Core.vtkCellPicker.newInstance()
    picker.setPickFromList(false)
    picker.pick([...canvasXY(ev), 0], renderer)
    return picker.getActors().length ? picker.getPickPosition() : null
  }

  // whether the cursor is on the selected point's handle (ring and needle hub)
  function onHandle(ev) {
    const h = model.scene && model.scene.handle
    const entry = h && actors.get(h.id)
    if (!entry || !entry.actor.getVisibility()) { return false }
    const picker = vtk.Rendering.Core.vtkCellPicker.newInstance()
    // the default tolerance (2.5% of the window's diagonal, several mm here) would take a press
    // beside the handle for one on it
    picker.setTolerance(0.001)
    picker.setPickFromList(true)
    picker.initializePickList()
    picker.addPickList(entry.actor)
    entry.actor.setPickable(true)
    picker.pick([...canvasXY(ev), 0], renderer)
    entry.actor.setPickable(false)
    return picker.getActors().length > 0
  }

  // A press on the selected point's handle drags the point over the skin (the camera stays); any
  // other click (press and release within a few pixels; a drag rotates) picks the surface. Picked
  // points go to Python whatever `placing` says here: a click right after the place toggle may come
  // before the toggle's new value reaches this view, and Python, which gets both in order, decides.
  // One press places at most one point: each press gets the next number of this page's canvas
  // (`presses`, kept with the Bokeh model like the meshes, so every view of it counts on), its pick
  // carries that number and the page's token, and a press whose pick was sent is never sent again
  // (by a second view or listener of the same press, or a second release); Python ignores a press it
  // has already handled (SceneCanvas._handle_msg), whatever the transport does.
  const presses = view.model._injectmapPresses || (view.model._injectmapPresses = {
    page: Math.random().toString(36).slice(2) + Date.now().toString(36), last: 0, sent: 0})
  let start = null
  let press = 0
  let drag = null  // {anchor, last}
  // vtk.js's interactor takes a pointer move that comes more than 200 ms after the one before as the
  // start of a new motion, which its camera style ignores, and not as a move. Without a GPU a frame of
  // the interaction takes longer than that (about 1 s at 1120x560 with SwiftShader on 2 cores), and
  // the browser hands over one move per frame: every move of a drag was a start and the head did not
  // turn. A move made with a button held goes to the style as a move, however long after the last.
  let buttons = 0  // the pointer's buttons at its last move over the canvas (this listener runs first)
  interactor.onStartMouseMove((data) => {
    if (buttons) {
      const {type: _start, ...move} = data
      interactor.mouseMoveEvent(move)
    }
  })
  const showPresses = () => {
    div.dataset.presses = String(presses.last)
    div.dataset.picksSent = String(counts.picks)
    div.dataset.picksMissed = String(counts.missed)
  }
  showPresses()
  div.addEventListener("pointerdown", (ev) => {
    start = (ev.button === 0) ? [ev.clientX, ev.clientY] : null
    press = start ? ++presses.last : 0
    showPresses()
    if (start && onHandle(ev)) {
      ev.stopPropagation()  // the interactor does not see the press: no rotation
      ev.preventDefault()
      drag = {anchor: model.scene.handle.anchor, last: null}
      div.setPointerCapture(ev.pointerId)
      div.dataset.dragging = "1"
    }
  }, true)
  div.addEventListener("pointermove", (ev) => {
    buttons = ev.buttons
    if (!drag) { return }
    ev.stopPropagation()
    const hit = pickSurface(ev)
    if (hit) {
      drag.last = hit
      const moved = [hit[0] - drag.anchor[0], hit[1] - drag.anchor[1], hit[2] - drag.anchor[2]]
      actors.get(model.scene.handle.id).actor.setPosition(...moved)
      draw()
    }
  }, true)
  div.addEventListener("pointerup", (ev) => {
    if (drag) {
      ev.stopPropagation()
      const last = drag.last
      drag = null
      start = null
      delete div.dataset.dragging
      if (last) { model.send_msg({drag: last, t: Date.now()}) }
      return
    }
    if (!start || Math.hypot(ev.clientX - start[0], ev.clientY - start[1]) > 4) {
      start = null
      return
    }
    start = null
    if (!press || press <= presses.sent) { return }  // this press's pick was sent already
    const hit = pickSurface(ev)
    if (hit) {
      presses.sent = press
      model.send_msg({pick: hit, press, page: presses.page, t: Date.now()})
      counts.picks += 1
    } else {
      counts.missed += 1
    }
    showPresses()
  }, true)

  const cursor = () => { div.style.cursor = model.placing ? "crosshair" : "default" }
  cursor()
  model.on("placing", cursor)
  model.on("labels", buildLabels)
  model.on("label_facing", placeLabels)
  model.on("meshes", sync)
  model.on("scene", sync)
  model.on("camera", () => { applyCamera(); draw() })
  model.on("background", () => { renderer.setBackground(...hexRgb(model.background)); draw() })
  // Bokeh lays the page out again after most changes to it: redraw only when this view's size
  // changed (a frame costs about 0.1 s without a GPU)
  let size = [div.clientWidth, div.clientHeight]
  const resize = () => {
    const now = [div.clientWidth, div.clientHeight]
    if (now[0] === size[0] && now[1] === size[1]) { return }
    size = now
    grw.resize()
    draw()
  }
  model.on("after_layout", resize)
  model.on("resize", resize)
  model.on("remove", () => {
    if (cameraTimer) { clearTimeout(cameraTimer) }
    grw.delete()
  })

  applyCamera()
  sync()
  buildLabels()
}
