<?php
// UnoPim's side of the connector's credential table, for tests/laravel_eloquent.rs: the real
// Laravel framework (Debian's php-laravel-framework, 8.x) without a full application. The schema
// builder creates the tables as the connector's own migration would, and an Eloquent model with
// the connector's casts (`encrypted` secrets, `array` JSON columns) writes, reads and deletes rows
// as UnoPim's credentials page does.
//
// Usage: php tests/laravel/eloquent.php < REQUEST.json
// The request is one JSON object:
//   {"action": "migrate" | "child" | "insert" | "read" | "raw" | "delete",
//    "url": "sqlite:///path/store.db" | "mysql://user:pass@host:port/db" | "postgres://…",
//    "prefix": "",                      // UnoPim's DB_PREFIX, applied by Laravel itself
//    "app_key": "base64:…",            // UnoPim's APP_KEY
//    "row": {…},                        // insert: the columns, as the credentials page sends them
//    "label": "…"}                      // delete: which row
// The answer is one JSON object on stdout; on any failure the exception goes to stderr and the
// exit code is 1.
//
// The autoloader is /usr/share/php/Illuminate/autoload.php unless LARAVEL_AUTOLOAD names another.

declare(strict_types=1);

error_reporting(E_ALL & ~E_DEPRECATED & ~E_USER_DEPRECATED);
ini_set('display_errors', 'stderr');
set_error_handler(function (int $severity, string $message, string $file, int $line): bool {
    if (!(error_reporting() & $severity)) {
        return false;
    }
    throw new ErrorException($message, 0, $severity, $file, $line);
});
set_exception_handler(function (Throwable $e): void {
    fwrite(STDERR, get_class($e) . ': ' . $e->getMessage() . "\n" . $e->getTraceAsString() . "\n");
    exit(1);
});
// Laravel's default (config/app.php 'timezone' => 'UTC'); Eloquent stamps rows in this zone.
date_default_timezone_set('UTC');

require_once getenv('LARAVEL_AUTOLOAD') ?: '/usr/share/php/Illuminate/autoload.php';

use Illuminate\Database\Capsule\Manager as Capsule;
use Illuminate\Database\Eloquent\Model;
use Illuminate\Database\Schema\Blueprint;
use Illuminate\Encryption\Encrypter;

/** The connector's table, before UnoPim's DB_PREFIX (which the connection adds). */
const CREDENTIALS = 'wk_bigcommerce_credentials';
/** A table of the connector that refers to a credential, as later connector migrations add. */
const CHILD = 'wk_bigcommerce_channel_mappings';

/** The credentials page's model: the connector's casts, unguarded like a form save. */
final class BigCommerceCredential extends Model
{
    protected $table = CREDENTIALS;

    protected $guarded = [];

    protected $casts = [
        'clientSecret'    => 'encrypted',
        'accessToken'     => 'encrypted',
        'status'          => 'boolean',
        'localeMapping'   => 'array',
        'currencyMapping' => 'array',
        'storeInfo'       => 'array',
    ];
}

/** Connection settings from a bccreds store URL, as UnoPim's config/database.php has them. */
function connection_config(string $url, string $prefix): array
{
    if (str_starts_with($url, 'sqlite:')) {
        $path = preg_replace('#^sqlite:(//)?#', '', $url);
        $path = explode('?', $path, 2)[0];
        // Laravel refuses a missing SQLite file (`touch database/database.sqlite` in its docs).
        if (!file_exists($path)) {
            touch($path);
        }
        return [
            'driver' => 'sqlite',
            'database' => $path,
            'prefix' => $prefix,
            'foreign_key_constraints' => true,
        ];
    }
    $parts = parse_url($url);
    if ($parts === false || !isset($parts['scheme'], $parts['host'])) {
        throw new InvalidArgumentException("unsupported store URL: $url");
    }
    $common = [
        'host' => $parts['host'],
        'database' => ltrim($parts['path'] ?? '', '/'),
        'username' => rawurldecode($parts['user'] ?? ''),
        'password' => rawurldecode($parts['pass'] ?? ''),
        'prefix' => $prefix,
        'prefix_indexes' => true,
    ];
    switch ($parts['scheme']) {
        case 'mysql':
        case 'mariadb':
            return $common + [
                'driver' => 'mysql',
                'port' => $parts['port'] ?? 3306,
                'charset' => 'utf8mb4',
                'collation' => 'utf8mb4_unicode_ci',
                'strict' => false,
                'engine' => 'InnoDB ROW_FORMAT=DYNAMIC',
            ];
        case 'postgres':
        case 'postgresql':
            return $common + [
                'driver' => 'pgsql',
                'port' => $parts['port'] ?? 5432,
                'charset' => 'utf8',
                'schema' => 'public',
                'sslmode' => 'prefer',
            ];
        default:
            throw new InvalidArgumentException("unsupported store URL scheme: {$parts['scheme']}");
    }
}

/** Laravel's parsing of APP_KEY (Illuminate\Encryption\EncryptionServiceProvider::parseKey). */
function app_key(string $key): string
{
    if (str_starts_with($key, 'base64:')) {
        return base64_decode(substr($key, 7), true);
    }
    return $key;
}

/** The columns the credentials page shows, with secrets decrypted by the model's casts. */
function row_out(BigCommerceCredential $c): array
{
    return [
        'id' => (int) $c->id,
        'label' => $c->label,
        'apiUrl' => $c->apiUrl,
        'clientId' => $c->clientId,
        'clientSecret' => $c->clientSecret,
        'accessToken' => $c->accessToken,
        'status' => $c->status,
        'defaultLocale' => $c->defaultLocale,
        'defaultCurrency' => $c->defaultCurrency,
        'localeMapping' => $c->localeMapping,
        'currencyMapping' => $c->currencyMapping,
        'storeInfo' => $c->storeInfo,
        // Read through Eloquent's date casting (Carbon), as `$credential->updated_at` would be.
        'created_at' => $c->created_at?->format('Y-m-d H:i:s'),
        'updated_at' => $c->updated_at?->format('Y-m-d H:i:s'),
    ];
}

$request = json_decode(stream_get_contents(STDIN), true, 512, JSON_THROW_ON_ERROR);

$capsule = new Capsule();
$capsule->addConnection(connection_config($request['url'], $request['prefix'] ?? ''));
$capsule->setAsGlobal();
$capsule->bootEloquent();
// Without a Laravel application there is no Crypt facade: give the model UnoPim's encrypter.
Model::encryptUsing(new Encrypter(app_key($request['app_key']), 'AES-256-CBC'));

$schema = Capsule::schema();
$child = function (Blueprint $t): void {
    $t->id();
    $t->foreignId('credential_id')->constrained(CREDENTIALS);
    $t->string('channel');
    $t->timestamps();
};

switch ($request['action']) {
    case 'migrate':
        // The connector's migration for its credential table, then a table referring to it.
        $schema->create(CREDENTIALS, function (Blueprint $t): void {
            $t->id();
            $t->string('label')->unique();
            $t->string('apiUrl');
            $t->string('clientId')->nullable();
            $t->text('clientSecret')->nullable();
            $t->text('accessToken');
            $t->boolean('status')->default(true);
            $t->string('defaultLocale')->nullable();
            $t->string('defaultCurrency')->nullable();
            $t->json('localeMapping')->nullable();
            $t->json('currencyMapping')->nullable();
            $t->json('storeInfo')->nullable();
            $t->timestamps();
        });
        $schema->create(CHILD, $child);
        $out = ['tables' => [CREDENTIALS, CHILD]];
        break;

    case 'child':
        // Only the referring table, for a credential table that already exists.
        $schema->create(CHILD, $child);
        $out = ['tables' => [CHILD]];
        break;

    case 'insert':
        $created = BigCommerceCredential::create($request['row']);
        $out = ['id' => (int) $created->id];
        break;

    case 'read':
        $out = ['rows' => BigCommerceCredential::orderBy('id')->get()->map('row_out')->all()];
        break;

    case 'raw':
        // The columns as stored, through the query builder without the model's casts: what a
        // byte-for-byte comparison needs, and readable whatever key sealed the secrets.
        $rows = Capsule::table(CREDENTIALS)->orderBy('id')->get()
            ->map(fn ($r) => array_map(fn ($v) => $v === null ? null : (string) $v, (array) $r))
            ->all();
        $out = ['rows' => $rows];
        break;

    case 'delete':
        $found = BigCommerceCredential::where('label', $request['label'])->get();
        foreach ($found as $credential) {
            $credential->delete();
        }
        $out = ['deleted' => count($found)];
        break;

    default:
        throw new InvalidArgumentException('unknown action: ' . json_encode($request['action']));
}

echo json_encode($out, JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR), "\n";
