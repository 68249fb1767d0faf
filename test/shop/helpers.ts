import mongoose from 'mongoose';
import type { ProductInput } from '../../src/app/catalog.js';
import { money } from '../../src/domain/money.js';
import { startTestMongo, type TestMongo } from '../db/helpers.js';

/** Connects the default mongoose connection to a fresh test database with every model's indexes. */
export async function connectShopDb(): Promise<{ mongo: TestMongo; stop(): Promise<void> }> {
  const mongo = await startTestMongo();
  await mongoose.connect(mongo.uri);
  await Promise.all(Object.values(mongoose.models).map((m) => m.init()));
  return {
    mongo,
    async stop() {
      await mongoose.disconnect();
      await mongo.stop();
    },
  };
}

export function sampleProduct(sku: string, over: Partial<ProductInput> = {}): ProductInput {
  return {
    sku,
    category: { slug: 'jeans', name: { it: 'Jeans', en: 'Jeans' } },
    title: { it: `Jeans ${sku} Slim Blu`, en: `Jeans ${sku} Slim Blue` },
    description: { it: 'Denim italiano', en: 'Italian denim' },
    images: ['/static/demo/jeans.svg'],
    price: money(4990, 'EUR'),
    variants: [
      { sku: `${sku}-S`, size: 'S', colour: 'Blu', stock: 3, priceOverride: undefined },
      { sku: `${sku}-M`, size: 'M', colour: 'Blu', stock: 0, priceOverride: undefined },
      { sku: `${sku}-L`, size: 'L', colour: 'Blu', stock: 1, priceOverride: 5490 },
    ],
    active: true,
    tags: ['denim', 'slim'],
    ...over,
  };
}
