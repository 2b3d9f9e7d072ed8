/**
 * Sweep constraints: small expressions over a member's axis values, such as
 * `lr / sqrt(batchSize) <= 0.01` or `model != "cnn" || epochs >= 3`. Parsed
 * here by a recursive-descent parser into a tree and evaluated over plain
 * values: no eval, no property access, no calls but the listed functions.
 *
 * Grammar (lowest precedence first):
 *   or      := and ("||" and)*
 *   and     := not ("&&" not)*
 *   not     := "!" not | compare
 *   compare := sum (("=="|"!="|"<"|"<="|">"|">=") sum)?
 *   sum     := product (("+"|"-") product)*
 *   product := power (("*"|"/"|"%") power)*
 *   power   := unary ("^" power)?
 *   unary   := "-" unary | atom
 *   atom    := number | string | true | false | name | name "(" args ")" | "(" or ")"
 */

export type Value = number | string | boolean | null;

type Node =
  | { kind: "lit"; value: Value }
  | { kind: "var"; name: string }
  | { kind: "call"; fn: string; args: Node[] }
  | { kind: "unary"; op: "-" | "!"; arg: Node }
  | { kind: "binary"; op: string; left: Node; right: Node };

const FUNCTIONS: Record<string, (...xs: number[]) => number> = {
  sqrt: Math.sqrt,
  log: Math.log,
  log2: Math.log2,
  log10: Math.log10,
  exp: Math.exp,
  abs: Math.abs,
  min: Math.min,
  max: Math.max,
  round: Math.round,
  floor: Math.floor,
  ceil: Math.ceil,
};

export class ExpressionError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(message);
    this.name = "ExpressionError";
  }
}

interface Token {
  type: "num" | "str" | "name" | "op" | "end";
  text: string;
  value?: number | string;
  at: number;
}

const OPERATORS = [
  "||",
  "&&",
  "==",
  "!=",
  "<=",
  ">=",
  "<",
  ">",
  "+",
  "-",
  "*",
  "/",
  "%",
  "^",
  "!",
  "(",
  ")",
  ",",
];

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i] as string;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const num = /^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?/.exec(src.slice(i));
    if (num) {
      out.push({ type: "num", text: num[0], value: Number(num[0]), at: i });
      i += num[0].length;
      continue;
    }
    if (c === '"' || c === "'") {
      const end = src.indexOf(c, i + 1);
      if (end < 0)
        throw new ExpressionError(`the string starting at ${i + 1} is not closed; add ${c}`, i);
      out.push({ type: "str", text: src.slice(i, end + 1), value: src.slice(i + 1, end), at: i });
      i = end + 1;
      continue;
    }
    const name = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*/.exec(src.slice(i));
    if (name) {
      out.push({ type: "name", text: name[0], at: i });
      i += name[0].length;
      continue;
    }
    const op = OPERATORS.find((o) => src.startsWith(o, i));
    if (!op)
      throw new ExpressionError(
        `unexpected "${c}" at ${i + 1}; use numbers, "strings", axis names, + - * / % ^, comparisons, && || ! and ( )`,
        i,
      );
    out.push({ type: "op", text: op, at: i });
    i += op.length;
  }
  out.push({ type: "end", text: "end of the expression", at: src.length });
  return out;
}

/** Parses an expression; throws ExpressionError saying what is wrong and where. */
export function parseExpression(src: string): Node {
  const tokens = tokenize(src);
  let pos = 0;
  const peek = () => tokens[pos] as Token;
  const take = () => tokens[pos++] as Token;
  const isOp = (...ops: string[]) => peek().type === "op" && ops.includes(peek().text);
  const expect = (op: string) => {
    const t = take();
    if (t.type !== "op" || t.text !== op)
      throw new ExpressionError(`expected "${op}" at ${t.at + 1} but found ${t.text}`, t.at);
  };
  const binaryLevel = (ops: string[], next: () => Node) => (): Node => {
    let left = next();
    while (isOp(...ops)) {
      const op = take().text;
      left = { kind: "binary", op, left, right: next() };
    }
    return left;
  };
  const atom = (): Node => {
    const t = take();
    if (t.type === "num" || t.type === "str") return { kind: "lit", value: t.value as Value };
    if (t.type === "name") {
      if (t.text === "true" || t.text === "false") return { kind: "lit", value: t.text === "true" };
      if (isOp("(")) {
        const fn = FUNCTIONS[t.text];
        if (!fn)
          throw new ExpressionError(
            `unknown function ${t.text}(); use one of ${Object.keys(FUNCTIONS).join(", ")}`,
            t.at,
          );
        take();
        const args: Node[] = [];
        if (!isOp(")")) {
          args.push(or());
          while (isOp(",")) {
            take();
            args.push(or());
          }
        }
        expect(")");
        return { kind: "call", fn: t.text, args };
      }
      return { kind: "var", name: t.text };
    }
    if (t.type === "op" && t.text === "(") {
      const inner = or();
      expect(")");
      return inner;
    }
    throw new ExpressionError(`unexpected ${t.text} at ${t.at + 1}`, t.at);
  };
  const unary = (): Node => {
    if (isOp("-")) {
      take();
      return { kind: "unary", op: "-", arg: unary() };
    }
    return atom();
  };
  const power = (): Node => {
    const base = unary();
    if (isOp("^")) {
      take();
      return { kind: "binary", op: "^", left: base, right: power() };
    }
    return base;
  };
  const product = binaryLevel(["*", "/", "%"], power);
  const sum = binaryLevel(["+", "-"], product);
  const compare = (): Node => {
    const left = sum();
    if (isOp("==", "!=", "<", "<=", ">", ">=")) {
      const op = take().text;
      return { kind: "binary", op, left, right: sum() };
    }
    return left;
  };
  const not = (): Node => {
    if (isOp("!")) {
      take();
      return { kind: "unary", op: "!", arg: not() };
    }
    return compare();
  };
  const and = binaryLevel(["&&"], not);
  const or = binaryLevel(["||"], and);
  const tree = or();
  const rest = peek();
  if (rest.type !== "end")
    throw new ExpressionError(
      `unexpected ${rest.text} at ${rest.at + 1}; an operator is missing?`,
      rest.at,
    );
  return tree;
}

/** The names an expression reads (to check them against the axes before any member is made). */
export function variables(node: Node): string[] {
  const out = new Set<string>();
  const walk = (n: Node) => {
    if (n.kind === "var") out.add(n.name);
    else if (n.kind === "call") n.args.forEach(walk);
    else if (n.kind === "unary") walk(n.arg);
    else if (n.kind === "binary") {
      walk(n.left);
      walk(n.right);
    }
  };
  walk(node);
  return [...out];
}

const num = (v: Value, what: string): number => {
  if (typeof v === "number") return v;
  if (typeof v === "boolean") return v ? 1 : 0;
  throw new ExpressionError(`${what} needs a number, got ${JSON.stringify(v)}`, 0);
};

/** Evaluates over `scope` (axis name -> value); objects count as null. */
export function evaluate(node: Node, scope: Record<string, unknown>): Value {
  switch (node.kind) {
    case "lit":
      return node.value;
    case "var": {
      const v = scope[node.name];
      return typeof v === "number" || typeof v === "string" || typeof v === "boolean" ? v : null;
    }
    case "call": {
      const fn = FUNCTIONS[node.fn] as (...xs: number[]) => number;
      return fn(...node.args.map((a) => num(evaluate(a, scope), `${node.fn}()`)));
    }
    case "unary": {
      const v = evaluate(node.arg, scope);
      return node.op === "!" ? !truthy(v) : -num(v, "-");
    }
    case "binary": {
      if (node.op === "&&")
        return truthy(evaluate(node.left, scope)) && truthy(evaluate(node.right, scope));
      if (node.op === "||")
        return truthy(evaluate(node.left, scope)) || truthy(evaluate(node.right, scope));
      const a = evaluate(node.left, scope);
      const b = evaluate(node.right, scope);
      switch (node.op) {
        case "==":
          return a === b;
        case "!=":
          return a !== b;
        case "<":
          return num(a, "<") < num(b, "<");
        case "<=":
          return num(a, "<=") <= num(b, "<=");
        case ">":
          return num(a, ">") > num(b, ">");
        case ">=":
          return num(a, ">=") >= num(b, ">=");
        case "+":
          return typeof a === "string" || typeof b === "string"
            ? `${a}${b}`
            : num(a, "+") + num(b, "+");
        case "-":
          return num(a, "-") - num(b, "-");
        case "*":
          return num(a, "*") * num(b, "*");
        case "/":
          return num(a, "/") / num(b, "/");
        case "%":
          return num(a, "%") % num(b, "%");
        case "^":
          return num(a, "^") ** num(b, "^");
      }
      throw new ExpressionError(`unknown operator ${node.op}`, 0);
    }
  }
}

export function truthy(v: Value): boolean {
  return v !== null && v !== false && v !== 0 && v !== "";
}

export type Expression = Node;
