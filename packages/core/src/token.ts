/**
 * A typed, namespaced identifier for a dependency, used by the composition roots' containers.
 * It is a plain symbol (so this package needs no DI framework) that carries its type for the
 * compiler: `container.get(token)` then returns `T` without casts.
 */
export type Token<T> = symbol & { readonly __type?: T };

/** Creates a {@link Token}; `name` should be namespaced, e.g. `dkv.coordinator.NodeClient`. */
export function token<T>(name: string): Token<T> {
  return Symbol.for(name) as Token<T>;
}
