package org.elasticsearch.node;

import org.elasticsearch.env.Environment;
import org.elasticsearch.plugins.ClasspathPluginsService;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.plugins.PluginsLoader;
import org.elasticsearch.plugins.PluginsService;

import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The stock Elasticsearch {@link Node}, built through the same {@link NodeConstruction} path as a
 * packaged server, except that its plugins (e.g. the Netty4 HTTP/transport module) come from the
 * class path. It sits in Elasticsearch's package because the construction hooks are package-private.
 */
public class ClasspathNode extends Node {

    /** Builds (but does not start) a node from a prepared environment and class-path plugin classes. */
    public ClasspathNode(Environment environment, Collection<Class<? extends Plugin>> plugins) {
        super(construct(environment, List.copyOf(plugins)));
    }

    private static NodeConstruction construct(Environment environment, List<Class<? extends Plugin>> plugins) {
        PluginsLoader emptyLoader = PluginsLoader.createPluginsLoader(Set.of(), Set.of(), Map.of(), false);
        NodeServiceProvider provider = new NodeServiceProvider() {
            @Override
            PluginsService newPluginService(Environment env, PluginsLoader loader) {
                return new ClasspathPluginsService(env.settings(), env.configDir(), plugins);
            }
        };
        return NodeConstruction.prepareConstruction(environment, emptyLoader, provider, true);
    }
}
