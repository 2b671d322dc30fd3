/**
 * The part of autocannon 8's API the benchmarks use (the package ships no types and no
 * `@types/autocannon` is installed). Only for type checking: tsx runs the code without it.
 */
declare module 'autocannon' {
  namespace autocannon {
    interface RequestParams {
      method?: string;
      path?: string;
      headers?: Record<string, string>;
      body?: string | Buffer;
    }
    interface Request extends RequestParams {
      setupRequest?: (req: RequestParams, context: Record<string, unknown>) => RequestParams;
    }
    interface Options {
      /** Several URLs: the connections are spread over them round-robin. */
      url: string | string[];
      connections?: number;
      pipelining?: number;
      duration?: number;
      timeout?: number;
      overallRate?: number;
      requests?: Request[];
    }
    interface Result {
      duration: number;
      errors: number;
      timeouts: number;
      non2xx: number;
      latency: Record<string, number>;
      requests: Record<string, number>;
    }
    interface Instance extends PromiseLike<Result> {
      on(event: 'response', listener: (client: unknown, statusCode: number, resBytes: number, responseTimeMs: number) => void): this;
      on(event: string, listener: (...args: unknown[]) => void): this;
      stop(): void;
    }
  }
  function autocannon(options: autocannon.Options): autocannon.Instance;
  export default autocannon;
}
