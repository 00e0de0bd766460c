// OpenPAI's JavaScript SDK (@microsoft/openpai-js-sdk, pinned in package.json)
// driven unchanged against mod_pairest's /api/v2: tests/api/test_sdk.py runs
// it with PAI_URL, PAI_USER/PAI_PASSWORD (a user granted vc1) and
// PAI_ADMIN/PAI_ADMIN_PASSWORD, and checks that it ends with "sdk: ok".
// Covered: info, login, users, VCs, YAML submission, list with filters and
// count, get, config, tags, attempts, task logs, tokens, executionType, errors and logout.
'use strict';
const assert = require('assert');
const { PAIV2 } = require('@microsoft/openpai-js-sdk');

const url = process.env.PAI_URL;
const user = process.env.PAI_USER;
const https = url.startsWith('https:');

function client(username, password) {
  return new PAIV2.OpenPAIClient({ rest_server_uri: url, username, password, https });
}

function protocol(name, commands) {
  return {
    protocolVersion: 2,
    name,
    type: 'job',
    jobRetryCount: 0,
    prerequisites: [{ name: 'image', type: 'dockerimage', uri: 'debian:12' }],
    parameters: { who: 'sdk' },
    secrets: { key: 'sdk-secret' },
    defaults: { virtualCluster: 'vc1' },
    taskRoles: {
      main: {
        instances: 1,
        dockerImage: 'image',
        resourcePerInstance: { cpu: 1, memoryMB: 128, gpu: 0 },
        commands,
      },
    },
  };
}

async function waitState(c, name, states) {
  for (let i = 0; i < 300; i++) {
    const job = await c.job.getJob(user, name);
    if (states.includes(job.jobStatus.state)) return job;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${name} never reached ${states}`);
}

async function step(what, fn) {
  try {
    await fn();
    console.log(`sdk: ${what}: ok`);
  } catch (e) {
    console.log(`sdk: ${what}: FAILED: ${e.stack || e}`);
    if (e.response) console.log(`sdk: answer ${e.response.status}: ${JSON.stringify(e.response.data)}`);
    process.exit(1);
  }
}

(async () => {
  const c = client(user, process.env.PAI_PASSWORD);
  const admin = client(process.env.PAI_ADMIN, process.env.PAI_ADMIN_PASSWORD);
  const name = `sdk_${Date.now()}`;
  const longName = `${name}_long`;

  await step('info', async () => {
    const info = await c.api.getClusterInfo();
    assert.strictEqual(info.name, 'PAI RESTful API');
  });
  await step('login', async () => {
    const t = await c.authn.basicLogin(user, process.env.PAI_PASSWORD);
    assert.strictEqual(t.user, user);
    assert.ok(t.token.split('.').length === 3);
  });
  await step('user', async () => {
    const u = await c.user.getUser(user);
    assert.strictEqual(u.username, user);
    assert.deepStrictEqual(u.virtualCluster, ['default', 'vc1']);
  });
  await step('users (admin)', async () => {
    const all = await admin.user.getAllUser();
    assert.ok(all.some((u) => u.username === user));
  });
  await step('virtual clusters', async () => {
    const vcs = await c.virtualCluster.listVirtualClusters();
    assert.ok('vc1' in vcs && 'default' in vcs);
    const vc1 = await c.virtualCluster.getVirtualCluster('vc1');
    assert.ok(vc1.resourcesTotal.cpu >= vc1.resourcesGuaranteed.cpu);
    const skus = await c.virtualCluster.getVirtualClusterSkuTypes('vc1');
    assert.ok(Object.keys(skus).length >= 1);
    for (const unit of Object.values(skus)) assert.ok(unit.cpu >= 1 && unit.memory > 0);
  });
  await step('submit (YAML)', async () => {
    await c.job.createJob(protocol(name, ['echo <% $parameters.who %> <% $secrets.key %>']));
  });
  await step('get', async () => {
    const job = await waitState(c, name, ['SUCCEEDED', 'FAILED']);
    assert.strictEqual(job.jobStatus.state, 'SUCCEEDED');
    assert.strictEqual(job.name, name);
    assert.strictEqual(job.taskRoles.main.taskStatuses.length, 1);
  });
  await step('list with filters and count', async () => {
    const page = await c.job.listJobs({ username: user, keyword: name, withTotalCount: true,
                                        order: 'jobName,ASC', state: 'SUCCEEDED' });
    assert.strictEqual(page.totalCount, 1);
    assert.strictEqual(page.data[0].name, name);
    assert.strictEqual(page.data[0].totalTaskNumber, 1);
  });
  await step('config', async () => {
    const cfg = await c.job.getJobConfig(user, name);
    assert.strictEqual(cfg.name, name);
    assert.deepStrictEqual(cfg.secrets, { key: '******' });
    assert.strictEqual(cfg.taskRoles.main.commands[0], 'echo <% $parameters.who %> <% $secrets.key %>');
  });
  await step('tags', async () => {
    await c.job.addTag(user, name, 'sdk-tag');
    let job = await c.job.getJob(user, name);
    assert.deepStrictEqual(job.tags, ['sdk-tag']);
    const page = await c.job.listJobs({ username: user, tagsContain: 'sdk-tag' });
    assert.deepStrictEqual(page.map((j) => j.name), [name]);
    await c.job.deleteTag(user, name, 'sdk-tag');
    job = await c.job.getJob(user, name);
    assert.deepStrictEqual(job.tags, []);
  });
  await step('attempts', async () => {
    assert.strictEqual(await c.jobHistory.getJobAttemptsHealthz(user, name), 'ok');
    const all = await c.jobHistory.getJobAttempts(user, name);
    assert.strictEqual(all.length, 1);
    assert.strictEqual(all[0].attemptIndex, 0);
    assert.strictEqual(all[0].isLatest, true);
    assert.strictEqual(all[0].appExitSpec.phrase, 'Succeeded');
    const one = await c.jobHistory.getJobAttempt(user, name, 0);
    assert.strictEqual(one.state, 'SUCCEEDED');
    const job = await c.job.getJob(user, name, 0);
    assert.strictEqual(job.jobStatus.attemptId, 0);
    const task = await c.job.getTask(user, name, 0, 'main', 0);
    assert.strictEqual(task.taskState, 'SUCCEEDED');
    assert.strictEqual(task.attempts[0].containerExitCode, 0);
    assert.ok(task.attempts[0].containerNodeName);
  });
  await step('logs', async () => {
    const logs = await c.job.getTaskLogs(user, name, 0, 'main', 0, 0);
    assert.deepStrictEqual(logs.locations.map((l) => l.name), ['stdout', 'stderr', 'all']);
    // The URIs carry no credential: the client reads them with its token.
    const out = logs.locations[0].uri;
    assert.ok(!/token/i.test(out), out);
    const res = await fetch(out, { headers: { Authorization: `Bearer ${await c.job.getToken()}` } });
    assert.strictEqual(res.status, 200);
    assert.strictEqual(await res.text(), 'sdk sdk-secret\n');
    const tail = await c.job.getTaskLogs(user, name, 0, 'main', 0, 0, true);
    assert.ok(tail.locations[0].uri.endsWith('?tail-mode=true'));
    await assert.rejects(c.job.getTaskLogs(user, name, 0, 'main', 1, 0));
  });
  await step('tokens', async () => {
    const app = await c.token.createApplicationToken();
    assert.strictEqual(app.application, true);
    const list = await c.token.getTokens();
    assert.ok(list.tokens.some((t) => t.id === app.id && t.application));
    assert.ok(!JSON.stringify(list).includes(app.token));    // ids, never tokens
    await c.token.deleteToken(app.token);                   // the SDK names the token
    const after = await c.token.getTokens();
    assert.ok(!after.tokens.some((t) => t.id === app.id));
  });
  await step('executionType', async () => {
    await c.job.createJob(protocol(longName, ['sleep 300']));
    await waitState(c, longName, ['RUNNING']);
    await c.job.updateJobExecutionType(user, longName, 'STOP');
    const job = await waitState(c, longName, ['STOPPED']);
    assert.strictEqual(job.jobStatus.executionType, 'STOP');
  });
  await step('errors', async () => {
    await assert.rejects(c.job.getJob(user, 'no_such_job'));
    await assert.rejects(c.job.createJob(protocol(name, ['true'])));    // name taken
  });
  await step('logout', async () => {
    await c.authn.basicLogout();
    await assert.rejects(c.user.getUser(user));
  });
  console.log('sdk: ok');
})();
