// The inferred table shapes `GET /api/shapes2` answers, in the backend's dashboard format
// (convex-backend `crates/common/src/shapes/dashboard.rs`, `dashboard_shape_json`): one
// `{"type": …}` per table, inferred from the documents (not from the declared schema).
//
// Like the backend: a table without documents is `Never`; objects list their fields sorted by
// name with `optional` set when some document lacks the field; values of different types become
// a `Union`. Unlike it: strings are never recognised as `Id` (the backend knows table numbers;
// convex-test's ids do not carry one the dashboard format can name), and no width limits apply.

/** The shape of every document of a table, merged. */
export function tableShape(documents) {
  return documents.map(valueShape).reduce(merge, NEVER);
}

const NEVER = { type: "Never" };

function valueShape(value) {
  if (value === null) return { type: "Null" };
  if (typeof value === "bigint") return { type: "Int64" };
  if (typeof value === "number") {
    return { type: "Float64", float64Range: { hasSpecialValues: !Number.isFinite(value) || Object.is(value, -0) } };
  }
  if (typeof value === "boolean") return { type: "Boolean" };
  if (typeof value === "string") return { type: "String" };
  if (value instanceof ArrayBuffer) return { type: "Bytes" };
  if (Array.isArray(value)) return { type: "Array", shape: value.map(valueShape).reduce(merge, NEVER) };
  const fields = Object.entries(value)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([fieldName, v]) => ({ fieldName, optional: false, shape: valueShape(v) }));
  return { type: "Object", fields };
}

function merge(a, b) {
  if (a.type === "Never") return b;
  if (b.type === "Never") return a;
  if (a.type === "Union" || b.type === "Union") {
    const members = [...(a.type === "Union" ? a.shapes : [a])];
    for (const s of b.type === "Union" ? b.shapes : [b]) addMember(members, s);
    return members.length === 1 ? members[0] : { type: "Union", shapes: members };
  }
  if (a.type !== b.type) return { type: "Union", shapes: [a, b] };
  switch (a.type) {
    case "Float64":
      return {
        type: "Float64",
        float64Range: { hasSpecialValues: a.float64Range.hasSpecialValues || b.float64Range.hasSpecialValues },
      };
    case "Array":
      return { type: "Array", shape: merge(a.shape, b.shape) };
    case "Object":
      return mergeObjects(a, b);
    default:
      return a;
  }
}

function addMember(members, shape) {
  const i = members.findIndex((m) => m.type === shape.type);
  if (i === -1) members.push(shape);
  else members[i] = merge(members[i], shape);
}

function mergeObjects(a, b) {
  const names = [...new Set([...a.fields, ...b.fields].map((f) => f.fieldName))].sort();
  const fields = names.map((fieldName) => {
    const x = a.fields.find((f) => f.fieldName === fieldName);
    const y = b.fields.find((f) => f.fieldName === fieldName);
    if (x && y) return { fieldName, optional: x.optional || y.optional, shape: merge(x.shape, y.shape) };
    return { ...(x ?? y), optional: true };
  });
  return { type: "Object", fields };
}
