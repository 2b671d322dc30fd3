/**
 * Which payload encoding the TCP protocol uses was decided by this measurement: MessagePack
 * (msgpackr) with the zod validation of the HTTP codec, MessagePack without validation (a lower
 * bound that no edge may ship), and the hand-written layout of tcp-codec.ts with its validation
 * by hand. Each encodes a request into a frame and decodes it as a server would, then encodes
 * the answer and decodes it as a client would: GET of a 2 KiB value and PUT of a 2 KiB value.
 *
 * Run: npx tsx --conditions=development benchmarks/node-clients/codec-bench.ts
 *
 * It measures the transport's frame internals, which `@dkv/transport` does not export, so it
 * imports them from the package's source files.
 */
import type { StorageRequest, StorageResponse } from '@dkv/core';
import { decodeRequest, decodeResponse, encodeRequest, encodeResponse } from '../../packages/transport/src/codec.js';
import { readRequest, readResponse, writeRequestFrame, writeResponseFrame } from '../../packages/transport/src/tcp-codec.js';
import { FrameReader, FrameWriter } from '../../packages/transport/src/tcp-frame.js';
import { Packr } from 'msgpackr';
import { recordOf, valueOf } from './workload.js';

const ITERATIONS = Number(process.env.BENCH_CODEC_ITERATIONS ?? 200_000);
const record = recordOf(valueOf(2048), 42, Date.now());
const exchanges: { name: string; request: StorageRequest; response: StorageResponse }[] = [
  { name: 'GET 2 KiB', request: { type: 'GET', key: 'session:00001234' }, response: { type: 'GET', record } },
  {
    name: 'PUT 2 KiB',
    request: { type: 'PUT', key: 'session:00001234', record },
    response: { type: 'PUT', applied: true, version: 42, previous: 41 },
  },
];

const plain = new Packr({ useRecords: false, int64AsType: 'number' });
const plainCopying = new Packr({ useRecords: false, int64AsType: 'number', copyBuffers: true });

type Codec = (request: StorageRequest, response: StorageResponse) => void;

const codecs: Record<string, Codec> = {
  'msgpackr + zod (HTTP codec)': (request, response) => {
    decodeRequest(encodeRequest(request));
    decodeResponse(encodeResponse(response));
  },
  'msgpackr, no validation': (request, response) => {
    plainCopying.unpack(plain.pack(request));
    plain.unpack(plain.pack(response));
  },
  'hand-written + checks (TCP codec)': (() => {
    const writer = new FrameWriter();
    const reader = new FrameReader(2 * 1024 * 1024);
    const roundTrip = (write: () => void, read: () => void): void => {
      write();
      for (const chunk of writer.take()) {
        reader.push(chunk);
        while (reader.next()) read();
      }
    };
    return (request, response) => {
      roundTrip(
        () => writeRequestFrame(writer, 1, request),
        () => readRequest(reader),
      );
      roundTrip(
        () => writeResponseFrame(writer, 1, response),
        () => readResponse(reader),
      );
    };
  })(),
};

for (const { name, request, response } of exchanges) {
  for (const [codecName, codec] of Object.entries(codecs)) {
    for (let i = 0; i < ITERATIONS / 10; i += 1) codec(request, response);
    const started = process.cpuUsage();
    for (let i = 0; i < ITERATIONS; i += 1) codec(request, response);
    const used = process.cpuUsage(started);
    const nsPerExchange = ((used.user + used.system) * 1000) / ITERATIONS;
    console.log(`${name.padEnd(10)} ${codecName.padEnd(34)} ${nsPerExchange.toFixed(0).padStart(6)} ns CPU per request + answer`);
  }
}
