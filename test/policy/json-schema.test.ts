/**
 * The boot-time JSON Schema validator: each keyword the vendored settings schema uses, and the
 * shape of the messages (one per problem, at the right key path).
 */
import t from 'tap'
import { SchemaValidator, jsonEqual } from '../../lib/policy/json-schema.js'

const v = (schema: Record<string, unknown>, value: unknown): string[] =>
  new SchemaValidator(schema).validate(value).map(i => `${i.path.join('.')}|${i.message}`)

t.test('type, with integer as a kind of number and one message for a wrong type', async (t) => {
  t.same(v({ type: 'string', minLength: 3 }, 'abc'), [])
  t.same(v({ type: 'string', minLength: 3 }, 5), ['|must be a string (got integer 5)'], 'no minLength noise after a type error')
  t.same(v({ type: 'number' }, 2), [], 'an integer is a number')
  t.same(v({ type: 'integer' }, 2.5), ['|must be a integer (got number 2.5)'])
  t.same(v({ type: ['string', 'null'] }, null), [])
  t.same(v({ type: 'object' }, []), ['|must be a mapping (got array [])'])
  t.same(v({ type: 'array' }, {}), ['|must be a list (got object {})'])
  t.same(v({ type: 'boolean' }, 'true'), ['|must be a boolean (got string "true")'])
})

t.test('enum and const compare JSON values structurally', async (t) => {
  t.same(v({ enum: ['a', 'b'] }, 'a'), [])
  t.same(v({ enum: ['a', 'b'] }, 'c'), ['|must be one of "a", "b" (got "c")'])
  t.same(v({ const: { x: [1, 2] } }, { x: [1, 2] }), [])
  t.same(v({ const: 'command' }, 'prompt'), ['|must be "command" (got "prompt")'])
  t.ok(jsonEqual({ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 }))
  t.notOk(jsonEqual({ a: 1 }, { a: 1, b: 2 }))
  t.notOk(jsonEqual([1], [1, 2]))
})

t.test('strings: minLength (code points), maxLength, pattern, format uri', async (t) => {
  t.same(v({ type: 'string', minLength: 1 }, ''), ['|must not be empty'])
  t.same(v({ type: 'string', minLength: 2 }, '✓'), ['|must be at least 2 characters long'])
  t.same(v({ type: 'string', minLength: 2 }, '😀😀'), [], 'astral characters count once')
  t.same(v({ type: 'string', maxLength: 2 }, 'abc'), ['|must be at most 2 characters long'])
  t.same(v({ type: 'string', pattern: '^[A-Z]+$' }, 'abc'), ['|"abc" does not match the pattern ^[A-Z]+$'])
  const long = { type: 'string', pattern: `^(${'x|'.repeat(40)}y)$`, description: 'Tool permission rule.\nMore text.' }
  t.same(v(long, 'z'), ['|"z" is not a valid value (expected: Tool permission rule)'], 'a long pattern is described, not printed')
  t.same(v({ type: 'string', format: 'uri' }, 'https://x.example/a'), [])
  t.same(v({ type: 'string', format: 'uri' }, 'not a url'), ['|"not a url" is not a URI (it needs a scheme such as https:)'])
})

t.test('numbers: minimum, maximum, exclusive bounds, multipleOf', async (t) => {
  const s = { type: 'number', minimum: 0, maximum: 1 }
  t.same(v(s, 0.5), [])
  t.same(v(s, -1), ['|must be at least 0 (got -1)'])
  t.same(v(s, 2), ['|must be at most 1 (got 2)'])
  t.same(v({ type: 'number', exclusiveMinimum: 0 }, 0), ['|must be greater than 0 (got 0)'])
  t.same(v({ type: 'number', exclusiveMaximum: 1 }, 1), ['|must be less than 1 (got 1)'])
  t.same(v({ type: 'number', multipleOf: 5 }, 12), ['|must be a multiple of 5 (got 12)'])
})

t.test('arrays: items (list and tuple), min/max items, uniqueItems', async (t) => {
  t.same(v({ type: 'array', items: { type: 'string' } }, ['a', 1]), ['1|must be a string (got integer 1)'])
  t.same(v({ type: 'array', items: [{ type: 'string' }, { type: 'number' }] }, ['a', 'b']), ['1|must be a number (got string "b")'])
  t.same(v({ type: 'array', minItems: 1 }, []), ['|must list at least 1 entry'])
  t.same(v({ type: 'array', minItems: 2 }, [1]), ['|must list at least 2 entries'])
  t.same(v({ type: 'array', maxItems: 1 }, [1, 2]), ['|must list at most 1 entries (got 2)'])
  t.same(v({ type: 'array', uniqueItems: true }, [{ a: 1 }, { a: 1 }]), ['1|repeats {"a":1}; entries must be unique'])
})

t.test('objects: required, properties, additionalProperties, propertyNames, min/max properties', async (t) => {
  const s = { type: 'object', required: ['a'], properties: { a: { type: 'string' }, b: { type: 'number' } }, additionalProperties: false }
  t.same(v(s, { a: 'x', b: 1 }), [])
  t.same(v(s, { b: 'y', c: 1 }), ['a|is required', 'b|must be a number (got string "y")', 'c|is not a known key here (known keys: a, b)'])
  t.same(v({ type: 'object', additionalProperties: { type: 'string' } }, { k: 1 }), ['k|must be a string (got integer 1)'])
  t.same(v({ type: 'object', additionalProperties: true }, { k: 1 }), [])
  t.same(v({ type: 'object', propertyNames: { pattern: '^[A-Z]+$' } }, { ok: 1 }), ['ok|is not an allowed key: "ok" does not match the pattern ^[A-Z]+$'])
  t.same(v({ type: 'object', minProperties: 1 }, {}), ['|must have at least 1 keys'])
  t.same(v({ type: 'object', maxProperties: 1 }, { a: 1, b: 2 }), ['|must have at most 1 keys'])
  const many = Object.fromEntries(Array.from({ length: 13 }, (_, i) => [`k${i}`, {}]))
  t.same(v({ type: 'object', properties: many, additionalProperties: false }, { z: 1 }), ['z|is not a known key here'], 'long key lists are not printed')
})

t.test('$ref to local definitions, nested', async (t) => {
  const root = {
    $defs: { name: { type: 'string', minLength: 1 }, pair: { type: 'object', properties: { n: { $ref: '#/$defs/name' } } } },
    type: 'array',
    items: { $ref: '#/$defs/pair' },
  }
  t.same(v(root, [{ n: 'x' }, { n: '' }]), ['1.n|must not be empty'])
  t.throws(() => v({ $ref: 'https://elsewhere.example/schema.json' }, 1), /only local references/)
  t.throws(() => v({ $ref: '#/$defs/missing' }, 1), /does not resolve/)
  t.same(v({ $defs: { 'a/b': { const: 1 } }, $ref: '#/$defs/a~1b' }, 2), ['|must be 1 (got 2)'], 'JSON pointer escapes')
})

t.test('anyOf: the one plausible form explains itself; otherwise one line', async (t) => {
  const hook = {
    anyOf: [
      { type: 'object', required: ['type', 'command'], properties: { type: { const: 'command' }, command: { type: 'string' } }, additionalProperties: false },
      { type: 'object', required: ['type', 'prompt'], properties: { type: { const: 'prompt' }, prompt: { type: 'string' } }, additionalProperties: false },
    ],
  }
  t.same(v(hook, { type: 'command', command: 'ls' }), [])
  t.same(v(hook, { type: 'command' }), ['command|is required'], 'the type field picks the form')
  t.same(v(hook, { type: 'other' }), ['|{"type":"other"} does not fit any of the 2 allowed forms'])
  t.same(v({ anyOf: [{ type: 'boolean' }, { type: 'array', items: { type: 'string' } }] }, [1]), ['0|must be a string (got integer 1)'], 'type alone can pick the form')
  t.same(v({ anyOf: [{ type: 'string', enum: ['a'] }, { type: 'string', pattern: '^x' }] }, 'b'), ['|"b" does not fit any of the 2 allowed forms'])
  t.same(v({ anyOf: [{ $ref: '#/$defs/s' }], $defs: { s: { type: 'string', minLength: 2 } } }, 'a'), ['|must be at least 2 characters long'], 'forms behind $ref')
})

t.test('oneOf, allOf, not, boolean schemas, unknown keywords', async (t) => {
  const one = { oneOf: [{ type: 'number' }, { type: 'integer' }] }
  t.same(v(one, 1.5), [])
  t.same(v(one, 2), ['|matches more than one of the 2 allowed forms'])
  t.same(v({ allOf: [{ type: 'string' }, { minLength: 2 }] }, 'a'), ['|must be at least 2 characters long'])
  t.same(v({ not: {} }, 1), ['|is not allowed here'])
  t.same(v({ not: { type: 'string' } }, 1), [])
  t.same(new SchemaValidator(false).validate(1).map(i => i.message), ['is not allowed here'])
  t.same(new SchemaValidator(true).validate(1), [])
  t.same(v({ type: 'string', title: 'x', examples: [1], default: 2, description: 'y', 'x-extension': true }, 's'), [], 'annotations are ignored')
})
