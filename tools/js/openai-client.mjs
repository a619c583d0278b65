// OpenAI's official Node client against a jgpt server: a completion, the same completion streamed,
// a chat completion (plain and streamed), and two errors. Prints one JSON object of what it got.
//
//   node tools/js/openai-client.mjs http://127.0.0.1:8080/v1 MODEL_ID
//
// The test suite runs it against `jgpt serve` (OpenAiNodeClientTest) and checks the results.
import OpenAI from 'openai';

const [baseURL, model] = process.argv.slice(2);
if (!baseURL || !model) {
  console.error('usage: node openai-client.mjs BASE_URL MODEL_ID');
  process.exit(2);
}
const client = new OpenAI({ baseURL, apiKey: 'not-needed', maxRetries: 0 });
const prompt = 'public static int';

const completion = await client.completions.create({ model, prompt, max_tokens: 20, temperature: 0 });

const stream = await client.completions.create({ model, prompt, max_tokens: 20, temperature: 0, stream: true });
const pieces = [];
let finish = null;
for await (const chunk of stream) {
  const choice = chunk.choices[0];
  pieces.push(choice.text);
  if (choice.finish_reason) finish = choice.finish_reason;
}

const messages = [{ role: 'user', content: 'Hello there' }];
const chat = await client.chat.completions.create({ model, messages, max_tokens: 12, temperature: 0 });
const chatStream = await client.chat.completions.create({ model, messages, max_tokens: 12, temperature: 0, stream: true });
let chatStreamed = '';
for await (const chunk of chatStream) chatStreamed += chunk.choices[0]?.delta?.content ?? '';

async function error(request) {
  try {
    await request();
    return null;
  } catch (e) {
    return { name: e.constructor.name, status: e.status, param: e.param ?? null, code: e.code ?? null, message: e.message };
  }
}
const tooLong = await error(() => client.completions.create({ model, prompt, max_tokens: 1000000 }));
const noSuchModel = await error(() => client.completions.create({ model: 'gpt-4o', prompt }));

process.stdout.write(JSON.stringify({
  completion: { text: completion.choices[0].text, finish: completion.choices[0].finish_reason, usage: completion.usage },
  stream: { pieces, finish },
  chat: { content: chat.choices[0].message.content, role: chat.choices[0].message.role },
  chatStreamed,
  tooLong,
  noSuchModel,
}));
