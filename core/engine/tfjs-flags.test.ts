import * as tf from "@tensorflow/tfjs-core";
import { afterEach, describe, expect, it } from "vitest";
import { selectBackend } from "./backends.js";
import { applyTfjsFlags, parseTfjsFlags } from "./tfjs-flags.js";

describe("SGD_STUDIO_TFJS_FLAGS", () => {
  afterEach(() => {
    delete process.env.SGD_STUDIO_TFJS_FLAGS;
  });

  it("parses booleans, numbers and strings, and names a malformed entry", () => {
    expect(parseTfjsFlags("A=true, B=false,C=64,D=abc,")).toEqual({
      A: true,
      B: false,
      C: 64,
      D: "abc",
    });
    expect(parseTfjsFlags("")).toEqual({});
    expect(() => parseTfjsFlags("A=1,B")).toThrow(/"B" is not NAME=value/);
  });

  it("sets registered flags and reports unknown ones", () => {
    const r = applyTfjsFlags("IS_TEST=true,NO_SUCH_FLAG_X=1");
    expect(r.set).toEqual({ IS_TEST: true });
    expect(Object.keys(r.unknown)).toEqual(["NO_SUCH_FLAG_X"]);
    expect(tf.env().getBool("IS_TEST")).toBe(true);
    tf.env().set("IS_TEST", false);
  });

  it("is applied by selectBackend, after the backend's package registered its flags", async () => {
    process.env.SGD_STUDIO_TFJS_FLAGS = "DEPRECATION_WARNINGS_ENABLED=false,NO_SUCH_FLAG_Y=2";
    const sel = await selectBackend("cpu");
    expect(sel.flags.set).toEqual({ DEPRECATION_WARNINGS_ENABLED: false });
    expect(Object.keys(sel.flags.unknown)).toEqual(["NO_SUCH_FLAG_Y"]);
    expect(tf.env().getBool("DEPRECATION_WARNINGS_ENABLED")).toBe(false);
    tf.env().set("DEPRECATION_WARNINGS_ENABLED", true);
  });
});
