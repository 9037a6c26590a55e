// The TypeScript type a JSON schema of schemas.ts accepts, computed from the schema itself, so a
// request's type and its validation have one source: adding a field to a schema adds it to the type.
// Covers the keywords our schemas use (type, properties, required, additionalProperties, items,
// enum, const, anyOf); anything else is `unknown`. Types only: nothing here exists at run time.

/** The type of the values `S` (a schema written `as const`) accepts. */
export type FromSchema<S> =
  S extends { readonly anyOf: readonly (infer U)[] } ? FromSchema<U>
  : S extends { readonly enum: readonly (infer E)[] } ? E
  : S extends { readonly const: infer C } ? C
  : S extends { readonly type: 'string' } ? string
  : S extends { readonly type: 'integer' | 'number' } ? number
  : S extends { readonly type: 'boolean' } ? boolean
  : S extends { readonly type: 'null' } ? null
  : S extends { readonly type: 'array'; readonly items: infer I } ? FromSchema<I>[]
  : S extends { readonly type: 'object' } ? ObjectOf<S>
  : unknown;

/** `properties` (those in `required` are required), or a map of `additionalProperties`' type. */
type ObjectOf<S> =
  S extends { readonly properties: infer P }
    ? Simplify<PropertiesOf<P, S extends { readonly required: readonly (infer R)[] } ? R : never>>
    : S extends { readonly additionalProperties: infer A }
      ? A extends false ? Record<string, never> : Record<string, FromSchema<A>>
      : Record<string, unknown>;

type PropertiesOf<P, R> =
  & { -readonly [K in keyof P as K extends R ? K : never]: FromSchema<P[K]> }
  & { -readonly [K in keyof P as K extends R ? never : K]?: FromSchema<P[K]> };

/** One object type instead of an intersection (what editors and declaration files show). */
type Simplify<T> = { [K in keyof T]: T[K] } & {};
